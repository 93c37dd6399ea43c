import { defineConfig, type Plugin } from 'vite';

/**
 * One self-contained index.html: script and styles inlined. In Azure every request to the app needs a function
 * key, and a browser sends one only on the page's own address (`/api/ui?code=...`), not on <script src>.
 */
function inlineIntoHtml(): Plugin {
  return {
    name: 'inline-into-html',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const html = Object.values(bundle).find((f) => f.fileName === 'index.html');
      if (!html || html.type !== 'asset') return;
      let text = String(html.source);
      for (const f of Object.values(bundle)) {
        const escaped = f.fileName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        if (f.type === 'chunk') {
          const tag = new RegExp(`<script type="module" crossorigin src="[^"]*${escaped}"></script>`);
          // Function replacement: the code may contain `$&` and similar patterns.
          text = text.replace(
            tag,
            () => `<script type="module">${f.code.replace(/<\/script/gi, '<\\/script')}</script>`,
          );
        } else if (f.fileName.endsWith('.css')) {
          const tag = new RegExp(`<link rel="stylesheet" crossorigin href="[^"]*${escaped}">`);
          text = text.replace(tag, () => `<style>${String(f.source)}</style>`);
        } else continue;
        delete bundle[f.fileName];
      }
      html.source = text;
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [inlineIntoHtml()],
  build: { outDir: '../dist/web', emptyOutDir: true, modulePreload: false, target: 'es2022' },
});
