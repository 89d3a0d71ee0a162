/** Types for browser.mjs, for TypeScript scripts that drive Chromium (scripts/share-image.ts). */
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH: string;
export const CHROMIUM_FLAGS: string[];
export const VIEWPORTS: Record<'phone' | 'desktop' | 'narrow', { width: number; height: number }>;
export function launchBrowser(options?: {
  javaScriptEnabled?: boolean;
  viewport?: { width: number; height: number };
  locale?: string;
  hasTouch?: boolean;
}): Promise<BrowserContext>;
export const MIN_FILL_MS: number;
export function pauseLikeAPerson(page: import('playwright-core').Page): Promise<void>;
