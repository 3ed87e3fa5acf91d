-- Every snapshot key and the node list, answered as one JSON string: a node's cluster view asks
-- for them at each request, and one string costs the client far less to decode than an array of
-- keys and a hash (the keyspace a node uses is small, so the SCAN loop is short).
-- KEYS[1]: the node list (hash); ARGV[1]: the SCAN pattern of the snapshot keys.
local keys = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 10000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do keys[#keys + 1] = key end
until cursor == '0'
return cjson.encode({ keys, redis.call('HGETALL', KEYS[1]) })
