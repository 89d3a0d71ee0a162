/**
 * The marketing config API as the editor uses it (see worker/routes/admin-config.ts and
 * worker/routes/media.ts for the server side). Every call goes through `adminFetch`,
 * which adds the session's CSRF header to mutations.
 */
import type { WebinarConfig } from '../../lib/webinar-config';
import { adminFetch, errorText, type AdminSession } from '../sign-in';
import type { SpeakerPhoto } from './photo-field';
import type { FieldErrors } from './validation';

export interface LiveState {
  version: number;
  config: WebinarConfig;
  /** Set when the current version is corrupt and visitors see `version` instead. */
  fallbackFrom?: number;
}

export interface HistoryEntry {
  version: number;
  publishedAt: string;
  publishedBy: string;
  summary: string;
}

export type PublishAnswer =
  | { kind: 'ok'; version: number }
  | { kind: 'invalid'; message: string; errors: FieldErrors }
  | { kind: 'conflict'; message: string }
  | { kind: 'error'; message: string };

/** The editor's view of the server; a fake in DOM tests. */
export interface EditorApi {
  load(): Promise<LiveState>;
  publish(baseVersion: number, config: unknown): Promise<PublishAnswer>;
  history(): Promise<{ current: number; entries: HistoryEntry[] }>;
  rollback(version: number, baseVersion: number): Promise<PublishAnswer>;
  preview(config: unknown): Promise<{ ok: true; html: string } | { ok: false; message: string }>;
  uploadMedia(blob: Blob): Promise<string>;
}

const NETWORK =
  'Der Server ist nicht erreichbar. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.';

async function answer(res: Response): Promise<PublishAnswer> {
  if (res.ok) return { kind: 'ok', version: ((await res.json()) as { version: number }).version };
  if (res.status === 409) return { kind: 'conflict', message: await errorText(res) };
  if (res.status === 400) {
    const body = (await res.json().catch(() => ({}))) as { error?: string; errors?: FieldErrors };
    return { kind: 'invalid', message: body.error ?? 'Ungültige Angaben.', errors: body.errors ?? {} };
  }
  return { kind: 'error', message: await errorText(res) };
}

async function guarded<T>(run: () => Promise<T>, fallback: (message: string) => T): Promise<T> {
  try {
    return await run();
  } catch {
    return fallback(NETWORK);
  }
}

export function httpApi(session: AdminSession): EditorApi {
  const json = (method: string, path: string, body: unknown) =>
    adminFetch(session, path, { method, body: JSON.stringify(body) });
  return {
    async load() {
      const res = await adminFetch(session, '/api/admin/config');
      if (!res.ok) throw new Error(await errorText(res));
      return (await res.json()) as LiveState;
    },
    publish: (baseVersion, config) =>
      guarded(
        async () => answer(await json('PUT', '/api/admin/config', { baseVersion, config })),
        (message) => ({ kind: 'error', message }),
      ),
    async history() {
      const res = await adminFetch(session, '/api/admin/config/history');
      if (!res.ok) throw new Error(await errorText(res));
      return (await res.json()) as { current: number; entries: HistoryEntry[] };
    },
    rollback: (version, baseVersion) =>
      guarded(
        async () => answer(await json('POST', '/api/admin/config/rollback', { version, baseVersion })),
        (message) => ({ kind: 'error', message }),
      ),
    preview: (config) =>
      guarded(
        async () => {
          const res = await json('POST', '/api/admin/preview', { config });
          return res.ok
            ? { ok: true as const, html: await res.text() }
            : { ok: false as const, message: await errorText(res) };
        },
        (message) => ({ ok: false as const, message }),
      ),
    async uploadMedia(blob) {
      let res: Response;
      try {
        res = await adminFetch(session, '/api/admin/media', {
          method: 'POST',
          headers: { 'content-type': blob.type || 'image/webp' },
          body: blob,
        });
      } catch {
        throw new Error(NETWORK);
      }
      if (!res.ok) throw new Error(await errorText(res));
      return ((await res.json()) as { hash: string }).hash;
    },
  };
}

/** Upload both widths of a prepared photo; the config references the pair. */
export async function uploadPhotoPair(
  api: EditorApi,
  photo: { large: Blob; small: Blob },
): Promise<SpeakerPhoto> {
  const hash = await api.uploadMedia(photo.large);
  const smallHash = await api.uploadMedia(photo.small);
  return { hash, smallHash };
}
