-- Appends ARGV[1] to the queue KEYS[1] unless an item of its kind waits already, which the
-- marker KEYS[2] says: sets the marker (expiring after ARGV[2] ms) and returns 1, or returns 0.
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
