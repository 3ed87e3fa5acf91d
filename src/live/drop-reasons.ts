// Why the web port closes a live output websocket client: the words of src/live/, imported by the
// metrics catalog for its `reason` label.

/** slow: its unread messages passed the send buffer limit; unauthenticated: no valid token in time; bad_messages: too many unusable messages in a row. */
export const DROP_REASONS = ['slow', 'unauthenticated', 'bad_messages'] as const;
export type DropReason = (typeof DROP_REASONS)[number];
