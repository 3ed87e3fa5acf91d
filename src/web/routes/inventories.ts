// /api/v2/inventories/: an INI or YAML inventory's text, checked and its hosts counted (a job's
// capacity impact depends on them).
import type { FastifyInstance } from 'fastify';
import type { NewInventory } from '../../control/store.ts';
import { countHosts } from '../../control/inventory.ts';
import type { RouteOptions } from '../api-context.ts';
import type { Form } from '../forms.ts';
import { MAX_INT, MAX_NAME, choice, nonBlank, object, text } from '../schemas.ts';
import { INVENTORY } from '../response-schemas.ts';
import { showInventory } from '../serializers.ts';
import { resourceRoutes } from './resource.ts';

const BODY = object({ name: nonBlank(MAX_NAME), description: text(''), format: choice(['ini', 'yaml'], 'ini'), content: text() }, ['name', 'content']);

type InventoryBody = Omit<NewInventory, 'host_count'>;

/** The inventory's host count, or undefined after adding what is wrong with its content. */
function hostCount(form: Form<InventoryBody>): number | undefined {
  const format = form.value('format');
  const content = form.value('content');
  if (format === undefined || content === undefined) return undefined;
  const counted = countHosts(format, content);
  if ('error' in counted) form.add('content', counted.error);
  else if (counted.hosts === 0) form.add('content', 'the inventory has no hosts');
  // The count is stored in an INTEGER column, and web[1:99999999999] is easy to write.
  else if (!(counted.hosts <= MAX_INT)) form.add('content', `the inventory's host patterns make more than ${MAX_INT} hosts`);
  else return counted.hosts;
  return undefined;
}

export async function inventoryRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  resourceRoutes(app, ctx, {
    path: 'inventories',
    noun: 'inventory',
    item: INVENTORY,
    body: BODY,
    list: (store, page) => store.listInventories(page),
    load: (store, id) => store.inventory(id),
    show: showInventory,
    check: hostCount,
    insert: (store, i: InventoryBody, host_count) => store.createInventory({ ...i, host_count: host_count as number }),
  });
}
