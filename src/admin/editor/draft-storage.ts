/**
 * The unpublished draft in the browser's localStorage, so a reload (or a crashed tab)
 * does not lose a marketer's work. One draft per browser profile; it remembers the
 * version it was based on, so a draft from before someone else's publish is not silently
 * published over theirs.
 */
export const DRAFT_KEY = 'webinar-editor-draft-v1';

export interface StoredDraft {
  baseVersion: number;
  config: unknown;
  savedAt: string;
}

export function loadDraft(storage: Storage | undefined = globalThis.localStorage): StoredDraft | null {
  try {
    const raw = storage?.getItem(DRAFT_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<StoredDraft>;
    if (typeof parsed.baseVersion !== 'number' || typeof parsed.config !== 'object' || !parsed.config)
      return null;
    return { baseVersion: parsed.baseVersion, config: parsed.config, savedAt: String(parsed.savedAt ?? '') };
  } catch {
    return null;
  }
}

export function saveDraft(draft: StoredDraft, storage: Storage | undefined = globalThis.localStorage) {
  try {
    storage?.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch {
    // Storage full or disabled (private mode): the editor still works, only without restore.
  }
}

export function clearDraft(storage: Storage | undefined = globalThis.localStorage) {
  try {
    storage?.removeItem(DRAFT_KEY);
  } catch {
    // see saveDraft
  }
}
