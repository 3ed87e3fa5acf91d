// The callback receiver's metrics (AWX's CallbackReceiverMetrics, fixed). Part of the catalog (catalog.ts), in its order.
import { DEAD_REASONS } from '../redis/event-queue.ts';
import { counter, gauge, histogram, type MetricSpec } from './metric-spec.ts';

export const CALLBACK_RECEIVER_METRICS = [
  // --- callback_receiver (AWX CallbackReceiverMetrics) ---
  counter({
    key: 'eventsPopped',
    service: 'callback_receiver',
    name: 'callback_receiver_events_popped_redis_total',
    awx: 'callback_receiver_events_popped_redis',
    help: 'Events taken from the Redis queue.',
  }),
  gauge({
    key: 'eventsInMemory',
    service: 'callback_receiver',
    name: 'callback_receiver_events_in_memory',
    awx: 'callback_receiver_events_in_memory',
    help: 'Events taken from Redis and not yet saved or discarded; 0 when the queue is drained.',
    combine: 'sum',
  }),
  gauge({
    key: 'queueSize',
    service: 'callback_receiver',
    name: 'callback_receiver_events_queue_size_redis',
    awx: 'callback_receiver_events_queue_size_redis',
    help: 'Length of the Redis event queue, sampled by the supervisor every snapshot interval.',
    combine: 'last',
  }),
  counter({
    key: 'eventsInserted',
    service: 'callback_receiver',
    name: 'callback_receiver_events_insert_db_total',
    awx: 'callback_receiver_events_insert_db',
    help: 'Events saved to the database.',
  }),
  counter({
    key: 'insertSeconds',
    service: 'callback_receiver',
    name: 'callback_receiver_events_insert_db_seconds_total',
    awx: 'callback_receiver_events_insert_db_seconds',
    help: 'Time spent saving events to the database, all event kinds.',
  }),
  counter({
    key: 'batchErrors',
    service: 'callback_receiver',
    name: 'callback_receiver_batch_events_errors_total',
    awx: 'callback_receiver_batch_events_errors',
    help: 'Batch inserts that failed and fell back to saving events one by one.',
  }),
  histogram({
    key: 'batchSize',
    service: 'callback_receiver',
    name: 'callback_receiver_batch_events_insert_db',
    awx: 'callback_receiver_batch_events_insert_db',
    help: 'Events per batch insert.',
    buckets: [10, 50, 150, 350, 650, 2000],
  }),
  counter({
    key: 'eventsBroadcast',
    service: 'callback_receiver',
    name: 'callback_receiver_events_broadcast_total',
    awx: 'callback_receiver_events_broadcast',
    help: 'Saved events sent on to websocket subscribers.',
  }),
  gauge({
    key: 'processingAvgSeconds',
    service: 'callback_receiver',
    name: 'callback_receiver_event_processing_avg_seconds',
    awx: 'callback_receiver_event_processing_avg_seconds',
    help: 'Mean time from an event being created to being saved, over the most recent batch.',
    combine: 'last',
  }),

  counter({
    key: 'duplicates',
    service: 'callback_receiver',
    name: 'callback_receiver_events_duplicate_total',
    help: 'Events received again (same job and uuid) and ignored, as already saved.',
  }),
  counter({
    key: 'deadLettered',
    service: 'callback_receiver',
    name: 'callback_receiver_events_dead_lettered_total',
    help: 'Events moved to the dead-letter list instead of the database, by reason (oversized: by the take in Redis, before reaching a thread).',
    labels: [{ name: 'reason', values: DEAD_REASONS }],
  }),
  counter({
    key: 'deadLettersDropped',
    service: 'callback_receiver',
    name: 'callback_receiver_dead_letters_dropped_total',
    help: 'Dead letters trimmed from the dead-letter list, oldest first, to keep it at dead_letter_max: the list holds dead-lettered minus dropped.',
  }),
  histogram({
    key: 'batchBytes',
    service: 'callback_receiver',
    name: 'callback_receiver_batch_bytes',
    help: 'Bytes of events per batch, as taken from the queue (at most batch_bytes, or one larger event).',
    buckets: [65536, 262144, 1048576, 4194304, 8388608, 16777216, 67108864],
  }),
  counter({
    key: 'streamsCompleted',
    service: 'callback_receiver',
    name: 'callback_receiver_job_streams_completed_total',
    help: 'Jobs whose event stream is complete: their EOF and every event up to its final_counter are saved.',
  }),
  histogram({
    key: 'processingLag',
    service: 'callback_receiver',
    name: 'callback_receiver_event_processing_lag_seconds',
    help: 'Time from an event being created to being saved, per event.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  }),
] as const satisfies readonly MetricSpec[];
