/**
 * A reverse proxy that compresses responses the way Cloudflare's edge does in production.
 *
 * Locally, `vite preview` → workerd sends HTML, JS and CSS uncompressed; deployed,
 * Cloudflare compresses them for every browser that accepts it. Benchmarks that measure
 * bytes or simulate a slow network (Lighthouse) put this proxy in front of the preview
 * server so the numbers match what a visitor's phone downloads. Everything else (status,
 * headers, redirects, bodies of other types) passes through unchanged.
 */
import { createServer, request } from 'node:http';
import { constants, createBrotliCompress, createGzip } from 'node:zlib';

/** Types Cloudflare compresses (a subset of its list that covers this app). */
const COMPRESSIBLE = /^(text\/|application\/(javascript|json|ld\+json|xml|manifest\+json)|image\/svg\+xml)/i;

/**
 * Start the proxy on `port`, forwarding to `upstream` (an http:// origin).
 * @param {{ upstream: string, port: number, encoding?: 'gzip' | 'br' }} options
 * @returns {Promise<{ url: string, stop: () => Promise<void> }>}
 */
export async function startCompressProxy({ upstream, port, encoding = 'gzip' }) {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    const headers = { ...req.headers, host: target.host };
    delete headers['accept-encoding'];
    const upstreamReq = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (up) => {
        const type = String(up.headers['content-type'] ?? '');
        const accepts = String(req.headers['accept-encoding'] ?? '');
        const compress =
          req.method !== 'HEAD' &&
          !up.headers['content-encoding'] &&
          COMPRESSIBLE.test(type) &&
          new RegExp(`\\b${encoding}\\b`).test(accepts) &&
          up.statusCode !== 204 &&
          up.statusCode !== 304;
        const outHeaders = { ...up.headers };
        if (compress) {
          delete outHeaders['content-length'];
          outHeaders['content-encoding'] = encoding;
          outHeaders['vary'] = outHeaders['vary']
            ? `${outHeaders['vary']}, Accept-Encoding`
            : 'Accept-Encoding';
        }
        res.writeHead(up.statusCode ?? 502, outHeaders);
        if (!compress) return void up.pipe(res);
        const zip =
          encoding === 'br'
            ? createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 4 } })
            : createGzip({ level: 6 });
        up.pipe(zip).pipe(res);
      },
    );
    upstreamReq.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${error.message}`);
    });
    req.pipe(upstreamReq);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(undefined));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
