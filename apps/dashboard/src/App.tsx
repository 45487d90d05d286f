import { useEffect, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import { LiveView } from './components/LiveView.js';
import { OfflineView } from './components/OfflineView.js';
import { TryIt } from './components/TryIt.js';
import { OnlineView } from './components/OnlineView.js';
import { JudgeView } from './components/JudgeView.js';

const TABS = [
  { id: 'offline', label: 'Offline' },
  { id: 'live', label: 'Live' },
  { id: 'try', label: 'Try it' },
  { id: 'online', label: 'Online' },
  { id: 'judge', label: 'Judge' },
] as const;
type TabId = (typeof TABS)[number]['id'];

const fromHash = (): TabId => {
  const h = window.location.hash.replace(/^#/, '');
  return (TABS.find((t) => t.id === h)?.id ?? 'offline') as TabId;
};

export function App() {
  const [tab, setTab] = useState<TabId>(fromHash);
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});

  useEffect(() => {
    const onHash = () => setTab(fromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const select = (id: TabId, focus = false) => {
    setTab(id);
    if (window.location.hash !== `#${id}`) window.history.replaceState(null, '', `#${id}`);
    if (focus) refs.current[id]?.focus();
  };

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const i = TABS.findIndex((t) => t.id === tab);
    if (e.key === 'ArrowRight') select(TABS[(i + 1) % TABS.length]!.id, true);
    else if (e.key === 'ArrowLeft') select(TABS[(i + TABS.length - 1) % TABS.length]!.id, true);
    else if (e.key === 'Home') select(TABS[0].id, true);
    else if (e.key === 'End') select(TABS[TABS.length - 1]!.id, true);
    else return;
    e.preventDefault();
  };

  return (
    <div className="app">
      <header className="top">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ◆
          </span>
          <h1>dotrank</h1>
          <span className="subtitle">BM25 vs TAS-B</span>
        </div>
        <div role="tablist" aria-label="Views" className="tabs" onKeyDown={onKey}>
          {TABS.map((t) => (
            <button
              key={t.id}
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              ref={(el) => {
                refs.current[t.id] = el;
              }}
              onClick={() => select(t.id)}
              data-testid={`tab-${t.id}`}
            >
              {t.label}
            </button>
          ))}
        </div>
      </header>
      <main>
        {TABS.map((t) => (
          <div key={t.id} role="tabpanel" id={`panel-${t.id}`} aria-labelledby={`tab-${t.id}`} hidden={tab !== t.id}>
            {t.id === 'offline' ? (
              <OfflineView />
            ) : t.id === 'live' ? (
              <LiveView active={tab === 'live'} />
            ) : t.id === 'online' ? (
              <OnlineView active={tab === 'online'} />
            ) : t.id === 'judge' ? (
              <JudgeView active={tab === 'judge'} />
            ) : (
              <TryIt />
            )}
          </div>
        ))}
      </main>
    </div>
  );
}
