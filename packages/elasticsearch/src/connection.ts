import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions, DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { ConfigError } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import type { AuthKind } from './errors.js';

/** The settings every Elasticsearch connection reads (all from `loadConfig`). */
export type ElasticsearchConfig = Pick<
  DotrankConfig,
  | 'ELASTICSEARCH_URL'
  | 'ELASTICSEARCH_API_KEY'
  | 'ELASTICSEARCH_USERNAME'
  | 'ELASTICSEARCH_PASSWORD'
  | 'ELASTICSEARCH_CA_FILE'
  | 'ELASTICSEARCH_CLOUD_ID'
  | 'ELASTICSEARCH_TIMEOUT_MS'
  | 'ELASTICSEARCH_CA_FINGERPRINT'
  | 'ELASTICSEARCH_TLS_INSECURE'
>;

export type ClientAuth = { apiKey: string } | { username: string; password: string };

/**
 * How to reach and authenticate to the cluster, checked once. The official client (`createClientFromConfig`) and the
 * proxy's forwarding client (`ForwardingClient`) are both built from this, so they send the same credentials.
 */
export interface ConnectionSettings {
  /**
   * Base URL without credentials: ELASTICSEARCH_URL (its first node when it lists several), or the one
   * ELASTICSEARCH_CLOUD_ID stands for. Absent when neither is set.
   */
  url?: string;
  /** Every node of ELASTICSEARCH_URL, without credentials, in the order given (one item for one URL or a cloud id). */
  urls?: string[];
  cloudId?: string;
  auth?: ClientAuth;
  authKind: AuthKind;
  /** The `Authorization` header value `auth` gives (what the official client sends for it). */
  authorization?: string;
  /** PEM CA certificate(s) to trust for https. */
  ca?: Buffer;
  /**
   * SHA-256 fingerprint of the CA certificate (`AA:BB:…`) the cluster's certificate chain must hold. Without a CA
   * file the chain is then not checked against the system's CAs, only pinned to this CA, as the official client
   * documents for clusters with a self-signed CA.
   */
  caFingerprint?: string;
  /** ELASTICSEARCH_TLS_INSECURE: any certificate is accepted (development only; warned about loudly). */
  tlsInsecure?: boolean;
  timeoutMs: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** `https://<es-id>.<host>` from an Elastic Cloud id (`name:base64(host$es-id[$kibana-id])`), as the official client reads it. */
export function cloudUrl(cloudId: string): string {
  const encoded = cloudId.split(':')[1];
  const parts = encoded ? Buffer.from(encoded, 'base64').toString('utf8').split('$') : [];
  if (parts.length < 2 || !parts[0] || !parts[1]) {
    throw new ConfigError(
      'ELASTICSEARCH_CLOUD_ID',
      'is not a cloud id of the form <name>:<base64 of host$es-id$kibana-id>',
    );
  }
  return `https://${parts[1]}.${parts[0]}`;
}

function parseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('ELASTICSEARCH_URL', `not a valid URL (got ${JSON.stringify(url)})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('ELASTICSEARCH_URL', `must start with http:// or https:// (got ${JSON.stringify(url)})`);
  }
  return parsed;
}

/** The nodes of ELASTICSEARCH_URL; credentials, when written into them, must be the same in every one. */
function parseNodes(value: string): URL[] {
  const nodes = value
    .split(',')
    .map((item) => item.trim())
    .map(parseUrl);
  const credentialsOf = (u: URL) => `${u.username}:${u.password}`;
  if (nodes.some((u) => credentialsOf(u) !== credentialsOf(nodes[0]!))) {
    throw new ConfigError(
      'ELASTICSEARCH_URL',
      'lists nodes with different user:password; give them once, the same for all',
    );
  }
  return nodes;
}

/** API key, user/password from the settings, or user/password written into the URL; one kind only. */
function credentials(config: ElasticsearchConfig, url: URL | undefined): ClientAuth | undefined {
  const { ELASTICSEARCH_API_KEY: apiKey, ELASTICSEARCH_USERNAME: username, ELASTICSEARCH_PASSWORD: password } = config;
  if (apiKey && (username || password)) {
    throw new ConfigError(
      'ELASTICSEARCH_API_KEY',
      'set either ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD, not both',
    );
  }
  const inUrl = url && (url.username || url.password);
  if (inUrl && (apiKey || username || password)) {
    throw new ConfigError(
      'ELASTICSEARCH_URL',
      'carries a user and password; then leave ELASTICSEARCH_API_KEY/USERNAME/PASSWORD unset',
    );
  }
  if (apiKey) return { apiKey };
  if (username || password) {
    if (!username) throw new ConfigError('ELASTICSEARCH_USERNAME', 'is required when ELASTICSEARCH_PASSWORD is set');
    if (!password) throw new ConfigError('ELASTICSEARCH_PASSWORD', 'is required when ELASTICSEARCH_USERNAME is set');
    return { username, password };
  }
  if (inUrl) return { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  return undefined;
}

/** The `Authorization` header for credentials: `ApiKey <key>` (the key as given, already encoded) or `Basic base64(user:password)`. */
export function authorizationHeader(auth: ClientAuth): string {
  if ('apiKey' in auth) return `ApiKey ${auth.apiKey}`;
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
}

function readCa(file: string): Buffer {
  let ca: Buffer;
  try {
    ca = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError('ELASTICSEARCH_CA_FILE', `cannot read ${file} (${code})`);
  }
  if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError('ELASTICSEARCH_CA_FILE', `${file} is not a PEM certificate (no BEGIN CERTIFICATE line)`);
  }
  return ca;
}

/** Reads and checks URL(s) or cloud id, credentials, CA file or fingerprint, and timeout; every problem is a ConfigError naming the variable. */
export function connectionSettings(config: ElasticsearchConfig): ConnectionSettings {
  const cloudId = config.ELASTICSEARCH_CLOUD_ID;
  if (cloudId && config.ELASTICSEARCH_URL) {
    throw new ConfigError('ELASTICSEARCH_CLOUD_ID', 'set either ELASTICSEARCH_CLOUD_ID or ELASTICSEARCH_URL, not both');
  }
  const nodes = config.ELASTICSEARCH_URL ? parseNodes(config.ELASTICSEARCH_URL) : undefined;
  const auth = credentials(config, nodes?.[0]);
  let urls: string[] | undefined;
  if (nodes) {
    urls = nodes.map((node) => {
      node.username = '';
      node.password = '';
      return node.href;
    });
  } else if (cloudId) {
    urls = [cloudUrl(cloudId)];
  }
  const insecure = config.ELASTICSEARCH_TLS_INSECURE === true;
  if (insecure && (config.ELASTICSEARCH_CA_FILE || config.ELASTICSEARCH_CA_FINGERPRINT)) {
    throw new ConfigError(
      'ELASTICSEARCH_TLS_INSECURE',
      'turns certificate checks off; leave it unset when ELASTICSEARCH_CA_FILE or ELASTICSEARCH_CA_FINGERPRINT is set',
    );
  }
  if (insecure) warnInsecure(urls ?? []);
  return {
    ...(urls ? { url: urls[0]!, urls } : {}),
    ...(cloudId ? { cloudId } : {}),
    ...(auth ? { auth, authorization: authorizationHeader(auth) } : {}),
    authKind: !auth ? 'none' : 'apiKey' in auth ? 'api_key' : 'basic',
    ...(config.ELASTICSEARCH_CA_FILE ? { ca: readCa(config.ELASTICSEARCH_CA_FILE) } : {}),
    ...(config.ELASTICSEARCH_CA_FINGERPRINT ? { caFingerprint: config.ELASTICSEARCH_CA_FINGERPRINT } : {}),
    ...(insecure ? { tlsInsecure: true } : {}),
    timeoutMs: config.ELASTICSEARCH_TIMEOUT_MS ?? DEFAULT_TIMEOUT_MS,
  };
}

/** The warning ELASTICSEARCH_TLS_INSECURE gives, once per process and cluster (a Node `DotrankWarning` on stderr). */
export const TLS_INSECURE_WARNING =
  'ELASTICSEARCH_TLS_INSECURE=1: TLS certificates of the cluster are NOT checked, so anyone on the network path can ' +
  'read and change the traffic, credentials included. Development only; use ELASTICSEARCH_CA_FILE or ' +
  'ELASTICSEARCH_CA_FINGERPRINT instead.';
const warnedInsecure = new Set<string>();

function warnInsecure(urls: string[]): void {
  const key = urls.join(',');
  if (warnedInsecure.has(key)) return;
  warnedInsecure.add(key);
  process.emitWarning(`${TLS_INSECURE_WARNING} (${urls.join(', ') || 'no URL'})`, 'DotrankWarning');
}

/**
 * TLS options for Node's https agent from the settings: the CA file, or no certificate check at all when insecure
 * or pinned to a CA fingerprint without a CA file (the pin is then checked on each connection by the caller).
 */
export function tlsOptions(settings: Pick<ConnectionSettings, 'ca' | 'caFingerprint' | 'tlsInsecure'>): {
  ca?: Buffer;
  rejectUnauthorized?: boolean;
} {
  if (settings.ca) return { ca: settings.ca };
  if (settings.tlsInsecure || settings.caFingerprint) return { rejectUnauthorized: false };
  return {};
}

/**
 * Why a TLS connection does not lead to the CA that `fingerprint` pins, or undefined when it does: a certificate of the
 * chain the cluster sent must have that SHA-256 fingerprint, each certificate below it must be signed by the next and
 * be valid now, and the first must name `host`. Checking the signatures (not only that the pinned CA is somewhere in
 * the chain) keeps a forged leaf sent beside the real CA out.
 */
export function pinnedCaProblem(socket: TLSSocket, fingerprint: string, host: string): string | undefined {
  const wanted = fingerprint.replace(/:/g, '').toUpperCase();
  const peer = socket.getPeerCertificate(true);
  if (!peer || !peer.raw) return 'the cluster sent no certificate';
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let node: DetailedPeerCertificate | undefined = peer; node?.raw && !seen.has(node.fingerprint256);) {
    seen.add(node.fingerprint256);
    chain.push(new X509Certificate(node.raw));
    node = node.issuerCertificate;
  }
  const pinned = chain.findIndex((c) => c.fingerprint256.replace(/:/g, '') === wanted);
  if (pinned < 0) return `no certificate the cluster sent has the pinned fingerprint ${fingerprint}`;
  const now = Date.now();
  for (let i = 0; i <= pinned; i++) {
    const cert = chain[i]!;
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo))
      return `certificate "${cert.subject}" is not valid now (${cert.validFrom} to ${cert.validTo})`;
    const issuer = i < pinned ? chain[i + 1]! : undefined;
    if (issuer && !(cert.checkIssued(issuer) && cert.verify(issuer.publicKey)))
      return `certificate "${cert.subject}" is not signed by "${issuer.subject}"`;
  }
  return checkServerIdentity(host, peer)?.message;
}

/**
 * An https agent with the TLS settings of the cluster (`tlsOptions`), for clients other than the official one (the
 * proxy's forwarding client). With a CA fingerprint, each new connection is checked by `pinnedCaProblem` before it is
 * handed to a request, so nothing (credentials included) is sent to a cluster that fails the pin.
 */
export function createHttpsAgent(
  settings: Pick<ConnectionSettings, 'ca' | 'caFingerprint' | 'tlsInsecure'>,
  options: HttpsAgentOptions = {},
): HttpsAgent {
  const agent = new HttpsAgent({ ...options, ...tlsOptions(settings) });
  const pin = settings.caFingerprint;
  if (!pin) return agent;
  type Callback = (error: Error | null, socket?: Duplex) => void;
  const pinned = (connectOptions: ConnectionOptions, callback: Callback): undefined => {
    const socket = tlsConnect(connectOptions);
    const onError = (error: Error) => callback(error);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      const host = connectOptions.servername || connectOptions.host || 'localhost';
      const problem = pinnedCaProblem(socket, pin, host);
      if (!problem) return callback(null, socket);
      socket.destroy();
      callback(new ConfigError('ELASTICSEARCH_CA_FINGERPRINT', `TLS connection refused: ${problem}`));
    });
    return undefined;
  };
  // Node's agent accepts a connection created asynchronously (callback, no return value)
  (agent as unknown as { createConnection: typeof pinned }).createConnection = pinned;
  return agent;
}
