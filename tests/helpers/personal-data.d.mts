export const EMAIL: RegExp;
export const IPV4: RegExp;
export const IPV6: RegExp;
export const TEST_NAMES: string[];
export function personalDataIn(lines: { level: string; text: string }[], extra?: string[]): string[];
export function serverLines(output: string): { level: string; text: string }[];
