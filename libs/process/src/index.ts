export * from './drain-on-signals.js';
export * from './load-config-or-exit.js';
