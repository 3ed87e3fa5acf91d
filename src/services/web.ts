// The web service, in the supervisor's main thread: one port for the HTTP API, the node's own
// metrics, the relay endpoint and the live job output (/websocket/), and this node's part in the
// cluster (its snapshots out, everyone's in). Its port answers from the first moment; the API once
// the node is up.
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import { ServiceExposition, processMetricSources } from '../metrics/exposition.ts';
import { ClusterNode } from '../cluster/cluster-node.ts';
import { ControlStore } from '../control/store.ts';
import { nodeCapacity } from '../control/capacity.ts';
import { projectRoots } from '../control/project-roots.ts';
import { TaskQueue } from '../dispatch/task-queue.ts';
import { jobObservers } from '../dispatch/job-metrics.ts';
import { WebServer } from '../web/web-server.ts';
import { LiveHub } from '../live/hub.ts';
import { liveMetricsOf } from '../live/live-metrics.ts';
import { offerLiveToRelay } from '../live/relay-side.ts';
import { attachLiveEndpoint, refuseToken } from '../live/websocket-endpoint.ts';
import type { Listener, Service } from './service.ts';

/** The web port's listener: the fastify server behind it. */
interface WebListener extends Listener {
  readonly web: WebServer;
}

export const web: Service<WebListener> = {
  name: 'web',
  extraSources: processMetricSources,
  listener({ config, log, sources, version, own }) {
    const w = config.services.web;
    const s = new WebServer({
      log,
      exposition: new ServiceExposition(sources),
      nodeName: config.node_name,
      version,
      bind: w.bind,
      hostnames: w.hostnames,
      tokens: w.tokens,
      allowAnonymousMetrics: w.allow_anonymous_metrics,
      countRefusal: (reason) => own.connectionsRefused.labels('web', reason).inc(),
    });
    return { web: s, server: s.server, listen: (_bind, port) => s.listen(port), close: () => s.close() };
  },
  async start(node, { web: webServer }) {
    const { config: c, redis, log } = node;
    const cluster = new ClusterNode({
      config: c,
      version: node.version,
      redis,
      sources: node.sources,
      web: node.metrics.web as ServiceMetrics<'web'>,
      own: node.own,
      webServer: webServer.server,
      refused: webServer.refused,
      log,
    });
    const tasks = new TaskQueue(redis, c.node_name);
    // The live job output: its hub follows this node's Redis (and, in relay mode, the peers).
    const hub = new LiveHub({
      redisUrl: node.redisUrl,
      metrics: liveMetricsOf(node.metrics.websockets as ServiceMetrics<'websockets'>),
      log: log.child({ service: 'web' }),
      refuseToken: (token) => refuseToken(webServer.access, token),
    });
    offerLiveToRelay(webServer.server, hub);
    const live = attachLiveEndpoint(webServer.server, { hub, hosts: webServer.hosts, access: webServer.access, refused: webServer.refused, log: log.child({ service: 'web' }) });
    node.defer('live output', () => live.close());
    webServer.ready({
      control: {
        // A job the API cancels before it runs is counted in the dispatcher's job metrics.
        store: new ControlStore(node.storage.sql, jobObservers((node.metrics.dispatcher as ServiceMetrics<'dispatcher'>).localRecorder('api').metrics, redis)),
        submit: (name, args, options) => tasks.submit(name, args, options),
        publish: (channel, message) => redis.publish(channel, message),
        // services.dispatcher.capacity applies live (config reload).
        get capacity() {
          return nodeCapacity(node.config.services.dispatcher.capacity);
        },
        projectRoots: projectRoots(c.data_dir, c.services.dispatcher.project_roots),
      },
      storage: node.storage,
      redisOk: async () => (await redis.ping().catch(() => '')) === 'PONG',
      cluster: () => cluster.view(),
      instances: () => cluster.instances(),
      reload: () => node.reload(),
    });
    node.onReload((changed) => {
      const next = node.config;
      if (changed.has('services.web.tokens') || changed.has('services.web.allow_anonymous_metrics')) {
        webServer.configure({ tokens: next.services.web.tokens, allowAnonymousMetrics: next.services.web.allow_anonymous_metrics });
      }
      if (changed.has('snapshot_interval_ms')) cluster.setSnapshotInterval(next.snapshot_interval_ms);
    });
    node.defer('cluster', () => cluster.close());
    // Deferred last, so the first thing a stop does: probes see the node going away at once.
    node.defer('api', () => webServer.stopping());
    if (c.services.web.tokens.length === 0) {
      log.warn({ bind: c.services.web.bind }, 'no API tokens configured: the API is open to anyone who can reach this loopback address');
    }
    cluster.start();
  },
};
