-- Puts the processing list KEYS[2] back at the head of the queue KEYS[1], in its order, deletes
-- it, and returns how many items went back. One LPUSH per item, last first: no unpack() limit.
local items = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
redis.call('DEL', KEYS[2])
return #items
