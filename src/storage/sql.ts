// SQL both backends share: the event columns in insert order, and what each API order means.
import type { EventOrder } from './storage.ts';
import { FINISHED_STATUSES } from '../control/model.ts';

/** job_events columns as saved, in this order. */
export const EVENT_COLUMNS =
  'job_id, uuid, counter, event, event_data, stdout, start_line, end_line, created, modified, host_name, task, play, role, changed, failed, parent_uuid';

/** ORDER BY for each order the API accepts; id breaks ties so that paging is stable. */
export const ORDER_SQL: Readonly<Record<EventOrder, string>> = {
  counter: 'counter ASC, id ASC',
  '-counter': 'counter DESC, id DESC',
  id: 'id ASC',
  '-id': 'id DESC',
  created: 'created ASC, id ASC',
  '-created': 'created DESC, id DESC',
};

/** The finished job states as an SQL list (`status IN (...)`): constants, not user input. */
export const FINISHED_SQL = FINISHED_STATUSES.map((s) => `'${s}'`).join(', ');
