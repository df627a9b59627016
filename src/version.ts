// The version of this build: package.json's, defined by scripts/build.mjs (`--define __VB_VERSION__`); 'dev' when
// the sources run unbuilt (tests).
declare const __VB_VERSION__: string;
export const PLUGIN_VERSION = typeof __VB_VERSION__ === 'string' ? __VB_VERSION__ : 'dev';
