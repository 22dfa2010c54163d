/** Stored with every analysis; bump when results would change. */
export const ANALYZER_VERSION = '1.1.0';
