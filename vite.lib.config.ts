import { defineConfig } from 'vite';

// The embedding library (src/embed) as an ES module package in dist-lib/: `index.js` (createVM and the
// element class) and `tabvm-terminal.js` (registers <tabvm-terminal>). Its dependencies are bundled, so
// a page can load it with one <script type="module">. The VM worker and the CPU core wasm are separate
// files that the code finds with `new URL(…, import.meta.url)`, relative to the library, not the page.
// Declarations come from `tsc -p src/embed/tsconfig.lib.json` (npm run build:lib).
export default defineConfig({
  publicDir: false,
  base: './',
  worker: { format: 'es' },
  build: {
    outDir: 'dist-lib',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    lib: {
      entry: { index: 'src/embed/index.ts', 'tabvm-terminal': 'src/embed/tabvm-terminal.ts' },
      formats: ['es'],
    },
  },
});
