import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

/**
 * Builds the admin page into dist/ui, served by the gateway at /ui/ (src/ui/plugin.ts).
 * Preact's automatic JSX runtime through Oxc (Vite's own transform), so no plugin is needed.
 */
export default defineConfig({
  root,
  base: '/ui/',
  publicDir: 'public',
  logLevel: 'warn',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' }
  },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be the only inline-looking script; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Everything is a hashed file under assets/: no data: URLs for scripts or fonts.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false
  }
})
