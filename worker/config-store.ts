/**
 * Published webinar configs in KV (`CONTENT`): `config:v<N>` immutable, `config:current`
 * → N. Without anything published, the repo's default (version 0) is live. A stored
 * config that fails validation is never rendered: the newest valid older one is.
 */
import defaultContent from '../src/content/webinar.json';
import { parseWebinarConfig, type WebinarConfig } from '../src/lib/webinar-config';
import { log } from './log';

export interface LiveConfig {
  version: number;
  config: WebinarConfig;
  /** Set when the current version was unreadable and an older one is shown instead. */
  fallbackFrom?: number;
}

const parsedDefault = parseWebinarConfig(defaultContent);
if (!parsedDefault.success)
  throw new Error('src/content/webinar.json is invalid; run npm run build for details');
export const DEFAULT_CONFIG: WebinarConfig = parsedDefault.output;

export const CURRENT_KEY = 'config:current';
export const versionKey = (n: number) => `config:v${n}`;

/** How long an isolate trusts its copy of `config:current` before asking KV again. */
const CURRENT_TTL_MS = 5_000;
let cached: { at: number; live: LiveConfig } | undefined;
const parsedVersions = new Map<number, WebinarConfig | null>();

export function resetConfigCache() {
  cached = undefined;
  parsedVersions.clear();
}

async function readVersion(kv: KVNamespace, n: number): Promise<WebinarConfig | null> {
  if (parsedVersions.has(n)) return parsedVersions.get(n)!;
  const raw = await kv.get(versionKey(n), 'json').catch(() => null);
  const result = raw === null ? null : parseWebinarConfig((raw as { config?: unknown }).config ?? raw);
  const config = result?.success ? result.output : null;
  // Versions are immutable, so a parse result (good or bad) holds for the isolate's life.
  if (raw !== null) parsedVersions.set(n, config);
  return config;
}

/** The config visitors see now. Never throws: KV trouble falls back to the default. */
export async function getLiveConfig(kv: KVNamespace, nowMs = Date.now()): Promise<LiveConfig> {
  if (cached && nowMs - cached.at < CURRENT_TTL_MS) return cached.live;
  let live: LiveConfig = { version: 0, config: DEFAULT_CONFIG };
  try {
    const current = Number(await kv.get(CURRENT_KEY));
    if (Number.isInteger(current) && current > 0) {
      for (let n = current; n > 0; n--) {
        const config = await readVersion(kv, n);
        if (config) {
          live = n === current ? { version: n, config } : { version: n, config, fallbackFrom: current };
          break;
        }
        log.error('config.invalid_version', { version: n });
      }
    }
  } catch (error) {
    log.error('config.read_failed', { message: (error as Error).message });
    if (cached) return cached.live;
  }
  cached = { at: nowMs, live };
  return live;
}
