import { defineConfig } from 'vite';
import type { PluginOption } from 'vite';
import react from '@vitejs/plugin-react';

// Static build served by the search API under /dashboard/ (see README). `npm run dev` proxies the API
// endpoints to DOTRANK_API_URL (default http://127.0.0.1:3000) so the page can be developed against a live server.
const apiUrl = process.env['DOTRANK_API_URL'] ?? 'http://127.0.0.1:3000';

export default defineConfig({
  base: '/dashboard/',
  // @vitejs/plugin-react resolves its `vite` types from the root node_modules (vite 8, pulled by vitest) while this
  // project builds with vite 7: the plugin is the same at run time, only the declaration files differ.
  plugins: [react() as unknown as PluginOption],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (/node_modules[\\/](echarts|zrender)[\\/]/.test(id)) return 'charts';
          if (/node_modules[\\/](react|react-dom|scheduler)[\\/]/.test(id)) return 'react';
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': apiUrl,
      '/search': apiUrl,
    },
  },
});
