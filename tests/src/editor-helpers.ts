/** For DOM tests of the editor: a fake EditorApi over the default config, and lookups. */
import { screen } from '@solidjs/testing-library';
import { vi } from 'vitest';
import defaultContent from '../../src/content/webinar.json';
import { parseWebinarConfig, type WebinarConfig } from '../../src/lib/webinar-config';
import type { EditorApi, LiveState, PublishAnswer } from '../../src/admin/editor/api';

const parsed = parseWebinarConfig(defaultContent);
if (!parsed.success) throw new Error('default config invalid');
export const CONFIG: WebinarConfig = parsed.output;

export function fakeApi(live: LiveState = { version: 3, config: structuredClone(CONFIG) }) {
  const api = {
    load: vi.fn(async () => structuredClone(live)),
    publish: vi.fn(async (): Promise<PublishAnswer> => ({ kind: 'ok', version: live.version + 1 })),
    history: vi.fn(async () => ({
      current: 3,
      entries: [
        {
          version: 3,
          publishedAt: '2026-12-01T10:00:00Z',
          publishedBy: 'token:marketing',
          summary: 'Titel geändert',
        },
        {
          version: 2,
          publishedAt: '2026-11-30T09:00:00Z',
          publishedBy: 'token:marketing',
          summary: 'Referent umbenannt: A → B',
        },
      ],
    })),
    rollback: vi.fn(async (): Promise<PublishAnswer> => ({ kind: 'ok', version: 4 })),
    preview: vi.fn(async () => ({ ok: true as const, html: '<p>Vorschau</p>' })),
    uploadMedia: vi.fn(async (blob: Blob) => (blob.size > 5 ? 'a'.repeat(64) : 'b'.repeat(64))),
  } satisfies EditorApi;
  return api;
}

/** The message an input points to with aria-describedby (what a screen reader reads). */
export function messageFor(input: Element): string | undefined {
  const ids = (input.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id.endsWith('-error'));
  return ids.length ? (document.getElementById(ids[0])?.textContent ?? undefined) : undefined;
}

export const publishButton = () =>
  screen.getByRole('button', { name: 'Veröffentlichen' }) as HTMLButtonElement;
