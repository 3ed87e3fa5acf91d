-- Moves up to ARGV[1] items from the head of the queue KEYS[1] to the tail of the processing list
-- KEYS[2], in order and in one step, and returns them. With a prefix in ARGV[2], each item taken
-- that is JSON with `once` set and a string `name` has its "queued once" marker ARGV[2] .. name
-- deleted: from then on, another request for it queues another run.
-- The caller keeps ARGV[1] under the limit of unpack() on arguments.
local n = tonumber(ARGV[1])
if n == nil or n < 1 then return {} end
local items = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], #items, -1)
redis.call('RPUSH', KEYS[2], unpack(items))
local prefix = ARGV[2]
if prefix ~= nil and prefix ~= '' then
  for _, item in ipairs(items) do
    local ok, task = pcall(cjson.decode, item)
    if ok and type(task) == 'table' and task.once and type(task.name) == 'string' then
      redis.call('DEL', prefix .. task.name)
    end
  end
end
return items
