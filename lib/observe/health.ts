// /metrics, /healthz and /readyz of a process.
import { createServer, type Server } from 'node:http';
import { registry } from './metrics.js';

export interface HealthChecks {
  healthy: () => boolean;
  ready: () => boolean;
}

export function startHealthServer(addr: string, checks: HealthChecks): Promise<Server> {
  const [host, portStr] = addr.includes(':') ? [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)] : ['127.0.0.1', addr];
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (err: unknown) => {
        res.writeHead(500);
        res.end(String(err));
      });
      return;
    }
    const check = url === '/healthz' ? checks.healthy : url === '/readyz' ? checks.ready : undefined;
    if (!check) {
      res.writeHead(404);
      res.end('not found\n');
      return;
    }
    const ok = check();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok\n' : 'not ready\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portStr), host || '127.0.0.1', () => resolve(server));
  });
}
