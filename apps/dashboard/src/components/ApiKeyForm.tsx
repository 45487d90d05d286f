import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { onApiKeyRequest, type ApiKeyRequest } from '../api.js';

/**
 * Asks for the API key when the server answers 401 (DOTRANK_API_KEY is set): once for all the requests waiting on
 * it. The key is kept in sessionStorage for this tab and sent as `x-api-key` on every request.
 */
export function ApiKeyForm() {
  const [request, setRequest] = useState<ApiKeyRequest | undefined>(undefined);
  const [key, setKey] = useState('');
  useEffect(() => onApiKeyRequest(setRequest), []);
  if (!request) return null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    request.answer(key);
    setKey('');
  };
  return (
    <div className="api-key-backdrop">
      <form className="panel api-key-form" data-testid="api-key-form" onSubmit={submit} aria-labelledby="api-key-title">
        <h2 id="api-key-title">API key</h2>
        <p>
          {request.refused ? 'That key was refused. ' : ''}This server needs its API key (DOTRANK_API_KEY) for every
          request.
        </p>
        <p className="muted">It is kept in this tab only (session storage) and sent as the x-api-key header.</p>
        <input
          type="password"
          autoFocus
          autoComplete="off"
          aria-label="API key"
          data-testid="api-key-input"
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <div className="api-key-actions">
          <button type="submit" disabled={key.trim() === ''}>
            Use this key
          </button>
          <button type="button" onClick={() => request.answer(null)}>
            Cancel
          </button>
        </div>
      </form>
    </div>
  );
}
