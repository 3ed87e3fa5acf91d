// Every metric overseer exposes, declared once. Recording handles, the slot layout in thread
// memory, aggregation, exposition and the README table all derive from this list.
// Names follow AWX's subsystem metrics (counters gain `_total`, times are in seconds). The words
// its labels take (services, tasks, reasons) belong to their domains and are imported from there.
// One module per service holds its declarations; this list puts them in order.
import type { ServiceName } from '../services/names.ts';
import type { MetricSpec } from './metric-spec.ts';
import { WEB_METRICS } from './catalog-web.ts';
import { CALLBACK_RECEIVER_METRICS } from './catalog-callback-receiver.ts';
import { WEBSOCKETS_METRICS } from './catalog-websockets.ts';
import { DISPATCHER_METRICS } from './catalog-dispatcher.ts';
import { MANAGER_METRICS } from './catalog-managers.ts';

export const CATALOG = [...WEB_METRICS, ...CALLBACK_RECEIVER_METRICS, ...WEBSOCKETS_METRICS, ...DISPATCHER_METRICS, ...MANAGER_METRICS] as const satisfies readonly MetricSpec[];

export type CatalogEntry = (typeof CATALOG)[number];

/** The catalog entries of one service, in declaration order. */
export function specsOf(service: ServiceName): readonly MetricSpec[] {
  return CATALOG.filter((m) => m.service === service);
}
