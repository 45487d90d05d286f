import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError, NotFoundError } from '@dotrank/core';
import type { Scalar } from '@dotrank/core';
import type { BM25Params } from './similarity.js';
import type { FrozenState } from './state.js';

/**
 * On-disk layout of a saved index (all little-endian):
 *   manifest.json  format name, version, parameters, counts, and the sections of arrays.bin
 *   arrays.bin     typed arrays (df, block tables, norms), each 8-byte aligned
 *   postings.bin   the varint-coded postings blocks
 *   terms.bin      terms, UTF-8, one per line (tokens never contain a line break)
 *   docs.bin       per document: u32 id length, id, u32 text length, text, u32 metadata length, metadata JSON
 */
export const FORMAT_NAME = 'dotrank-bm25';
export const FORMAT_VERSION = 1;
/** Analyzer identity written into the manifest: an index built by another analyzer must be rebuilt. */
export const ANALYZER_ID = 'standard-uax29-lowercase-max255-nostop/1';

const ARRAY_TYPES = {
  Int32Array,
  Uint32Array,
  Float64Array,
  Uint8Array,
} as const;
type ArrayTypeName = keyof typeof ARRAY_TYPES;

interface SectionInfo {
  name: string;
  type: ArrayTypeName;
  offset: number;
  length: number;
}

export interface Manifest {
  format: string;
  formatVersion: number;
  analyzer: string;
  k1: number;
  b: number;
  documents: number;
  terms: number;
  blocks: number;
  docCount: number;
  sumTotalTermFreq: number;
  postingsBytes: number;
  sections: SectionInfo[];
  savedAt: string;
}

const MANIFEST = 'manifest.json';

/** True when `dir` holds a saved index (a manifest). */
export async function hasSavedIndex(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, MANIFEST))).isFile();
  } catch {
    return false;
  }
}

async function writeChunks(path: string, data: Uint8Array | string | Uint8Array[]): Promise<void> {
  if (!Array.isArray(data)) return writeFile(path, data);
  const handle = await open(path, 'w');
  try {
    for (const chunk of data) await handle.write(chunk);
  } finally {
    await handle.close();
  }
}

const INDEX_FILES = new Set([MANIFEST, 'arrays.bin', 'postings.bin', 'terms.bin', 'docs.bin']);

/** Refuses to replace a folder that holds anything but a saved index: a mistyped --index-dir must not lose files. */
async function checkReplaceable(dir: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const foreign = entries.filter((name) => !INDEX_FILES.has(name));
  if (foreign.length > 0) {
    throw new ConfigError(
      'index',
      `${dir} holds files that are not part of a dotrank BM25 index (${foreign.slice(0, 3).join(', ')}); choose a new or empty folder`,
    );
  }
  return true;
}

/**
 * Replaces `dir` with the folder `fill` writes: it writes into a temporary folder beside `dir` and renames it
 * into place at the end, so a reader (or a crash) sees the earlier index or the new one, never a mix; a failure
 * removes the temporary folder and leaves the earlier index untouched.
 */
async function replaceFolder(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const exists = await checkReplaceable(dir);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await mkdir(tmp);
    await fill(tmp);
    if (exists) await rename(dir, old);
    await rename(tmp, dir);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  if (exists) await rm(old, { recursive: true, force: true });
}

function encodeDocs(state: FrozenState): Uint8Array[] {
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let buf = Buffer.allocUnsafe(1 << 22);
  let len = 0;
  const flush = () => {
    if (len > 0) chunks.push(Buffer.from(buf.subarray(0, len)));
    len = 0;
  };
  const put = (bytes: Uint8Array) => {
    if (len + 4 + bytes.length > buf.length) {
      flush();
      if (4 + bytes.length > buf.length) buf = Buffer.allocUnsafe(4 + bytes.length);
    }
    buf.writeUInt32LE(bytes.length, len);
    buf.set(bytes, len + 4);
    len += 4 + bytes.length;
  };
  const empty = new Uint8Array(0);
  for (let d = 0; d < state.ids.length; d++) {
    put(encoder.encode(state.ids[d]!));
    put(encoder.encode(state.texts[d]!));
    const meta = state.metadata[d];
    put(meta ? encoder.encode(JSON.stringify(meta)) : empty);
  }
  flush();
  return chunks;
}

/** Writes a frozen index as the folder `dir` (created or replaced whole, see replaceFolder). */
export async function writeIndexFiles(dir: string, state: FrozenState): Promise<Manifest> {
  let manifest: Manifest | undefined;
  await replaceFolder(dir, async (tmp) => {
    manifest = await writeIndexFilesInto(tmp, state);
  });
  return manifest!;
}

async function writeIndexFilesInto(dir: string, state: FrozenState): Promise<Manifest> {
  const p = state.postings;
  const arrays: Array<[string, ArrayTypeName, ArrayBufferView & { length: number }]> = [
    ['df', 'Int32Array', state.df],
    ['termBlockStart', 'Uint32Array', p.termBlockStart],
    ['blockLastDoc', 'Int32Array', p.blockLastDoc],
    ['blockOffset', 'Float64Array', p.blockOffset],
    ['blockMaxFreq', 'Uint32Array', p.blockMaxFreq],
    ['blockMinNorm', 'Uint8Array', p.blockMinNorm],
    ['norms', 'Uint8Array', state.norms],
  ];
  const sections: SectionInfo[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, type, array] of arrays) {
    sections.push({ name, type, offset, length: array.length });
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    parts.push(bytes);
    offset += bytes.byteLength;
    const pad = (8 - (offset % 8)) % 8;
    if (pad) {
      parts.push(new Uint8Array(pad));
      offset += pad;
    }
  }
  await writeChunks(join(dir, 'arrays.bin'), parts);
  await writeChunks(join(dir, 'postings.bin'), p.bytes);
  await writeChunks(join(dir, 'terms.bin'), state.terms.join('\n'));
  await writeChunks(join(dir, 'docs.bin'), encodeDocs(state));
  const manifest: Manifest = {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    analyzer: ANALYZER_ID,
    k1: state.params.k1,
    b: state.params.b,
    documents: state.ids.length,
    terms: state.terms.length,
    blocks: p.blockLastDoc.length,
    docCount: state.docCount,
    sumTotalTermFreq: state.sumTotalTermFreq,
    postingsBytes: p.bytes.byteLength,
    sections,
    savedAt: new Date().toISOString(),
  };
  await writeChunks(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST);
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (error) {
    throw new NotFoundError('index', `no saved BM25 index in ${dir} (${MANIFEST} missing)`, { cause: error });
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(raw) as Manifest;
  } catch (error) {
    throw new ConfigError(path, 'manifest is not valid JSON', { cause: error });
  }
  if (manifest.format !== FORMAT_NAME) {
    throw new ConfigError('format', `${path} is not a dotrank BM25 index (format ${JSON.stringify(manifest.format)})`);
  }
  if (manifest.formatVersion !== FORMAT_VERSION) {
    throw new ConfigError(
      'formatVersion',
      `${path} has format version ${manifest.formatVersion}, this build reads version ${FORMAT_VERSION}; re-index the collection`,
    );
  }
  if (manifest.analyzer !== ANALYZER_ID) {
    throw new ConfigError(
      'analyzer',
      `${path} was built with analyzer ${manifest.analyzer}, this build uses ${ANALYZER_ID}; re-index`,
    );
  }
  return manifest;
}

async function* docRecords(path: string): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 24);
    let start = 0;
    let end = 0;
    for (;;) {
      // Emit complete records in buf[start, end).
      while (end - start >= 4) {
        const len = buf.readUInt32LE(start);
        if (end - start < 4 + len) break;
        yield buf.subarray(start + 4, start + 4 + len);
        start += 4 + len;
      }
      // Keep the partial record, growing the buffer when one record does not fit.
      const rest = end - start;
      const need = rest >= 4 ? 4 + buf.readUInt32LE(start) : 4;
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(need);
        buf.copy(bigger, 0, start, end);
        buf = bigger;
      } else buf.copy(buf, 0, start, end);
      start = 0;
      end = rest;
      const { bytesRead } = await handle.read(buf, end, buf.length - end, null);
      if (bytesRead === 0) {
        if (end !== 0) throw new ConfigError(path, 'truncated document record at end of file');
        return;
      }
      end += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Reads a saved index. `expected` parameters, when given, must equal the saved ones: BM25 parameters are
 * fixed at indexing time (the norm table depends on them at search time only, but a silent change would
 * make scores disagree with what the user asked for).
 */
export async function readIndexFiles(dir: string, expected: Partial<BM25Params> = {}): Promise<FrozenState> {
  const manifest = await readManifest(dir);
  for (const key of ['k1', 'b'] as const) {
    const want = expected[key];
    if (want !== undefined && want !== manifest[key]) {
      throw new ConfigError(
        key,
        `the index in ${dir} was built with ${key}=${manifest[key]}, but ${key}=${want} was requested; re-index or drop the option`,
      );
    }
  }
  const arraysBuf = await readFile(join(dir, 'arrays.bin'));
  // Copy into an 8-byte aligned buffer so typed arrays can view it directly.
  const aligned = new Uint8Array(arraysBuf.byteLength);
  aligned.set(arraysBuf);
  const arrays = new Map<string, ArrayBufferView & { length: number }>();
  for (const section of manifest.sections) {
    const Ctor = ARRAY_TYPES[section.type];
    if (!Ctor) throw new ConfigError('sections', `unknown array type ${section.type}`);
    const byteLength = section.length * Ctor.BYTES_PER_ELEMENT;
    if (section.offset + byteLength > aligned.byteLength)
      throw new ConfigError(join(dir, 'arrays.bin'), `truncated (section ${section.name})`);
    arrays.set(section.name, new Ctor(aligned.buffer, section.offset, section.length));
  }
  const get = <T>(name: string): T => {
    const a = arrays.get(name);
    if (!a) throw new ConfigError(join(dir, 'arrays.bin'), `section ${name} missing`);
    return a as T;
  };
  const postingsBytes = new Uint8Array(await readFile(join(dir, 'postings.bin')));
  if (postingsBytes.byteLength !== manifest.postingsBytes) {
    throw new ConfigError(
      join(dir, 'postings.bin'),
      `expected ${manifest.postingsBytes} bytes, found ${postingsBytes.byteLength}`,
    );
  }
  const termsText = await readFile(join(dir, 'terms.bin'), 'utf8');
  const terms = manifest.terms === 0 ? [] : termsText.split('\n');
  if (terms.length !== manifest.terms)
    throw new ConfigError(join(dir, 'terms.bin'), `expected ${manifest.terms} terms, found ${terms.length}`);

  const decoder = new TextDecoder();
  const ids: string[] = [];
  const texts: string[] = [];
  const metadata: Array<Record<string, Scalar> | undefined> = [];
  let field = 0;
  for await (const record of docRecords(join(dir, 'docs.bin'))) {
    if (field === 0) ids.push(decoder.decode(record));
    else if (field === 1) texts.push(decoder.decode(record));
    else
      metadata.push(record.length === 0 ? undefined : (JSON.parse(decoder.decode(record)) as Record<string, Scalar>));
    field = (field + 1) % 3;
  }
  if (ids.length !== manifest.documents || metadata.length !== manifest.documents) {
    throw new ConfigError(join(dir, 'docs.bin'), `expected ${manifest.documents} documents, found ${metadata.length}`);
  }
  return {
    params: { k1: manifest.k1, b: manifest.b },
    terms,
    df: get<Int32Array>('df'),
    postings: {
      termBlockStart: get<Uint32Array>('termBlockStart'),
      blockLastDoc: get<Int32Array>('blockLastDoc'),
      blockOffset: get<Float64Array>('blockOffset'),
      blockMaxFreq: get<Uint32Array>('blockMaxFreq'),
      blockMinNorm: get<Uint8Array>('blockMinNorm'),
      bytes: postingsBytes,
    },
    norms: get<Uint8Array>('norms'),
    ids,
    texts,
    metadata,
    docCount: manifest.docCount,
    sumTotalTermFreq: manifest.sumTotalTermFreq,
  };
}
