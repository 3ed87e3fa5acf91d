-- take.lua with a byte budget and a size limit, for the callback queue: moves items from the head
-- of the queue KEYS[1] to the tail of the processing list KEYS[2], one at a time (LMOVE: no
-- unpack() limit, and no item is read twice), and stops at ARGV[1] items or before the items
-- moved would pass ARGV[2] bytes. With ARGV[3] = '1' the first item moves whatever its size, so
-- that an empty batch always gets one.
-- An item longer than ARGV[4] bytes never reaches a taker: it leaves the queue as a dead letter
-- on the list KEYS[3] ({reason: 'oversized', detail, node: ARGV[6], at: ARGV[7], payload: its
-- first ARGV[8] bytes and '…'}), and the dead list is trimmed to its newest ARGV[5] entries.
-- Oversized items read count against the byte budget too, so that one call stays short however
-- many of them wait.
-- Returns {items, bytes moved, oversized, dead letters the cap dropped, state}; state is 0 when
-- the queue is empty, 1 when items may still wait, 2 when the next item would pass the budget.
local n = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local firstAnyway = ARGV[3] == '1'
local maxItem = tonumber(ARGV[4])
local deadMax = tonumber(ARGV[5])
local keep = tonumber(ARGV[8])

local items = {}
local bytes = 0
local read = 0
local oversized = 0
local state = 1

while #items < n do
  local item = redis.call('LINDEX', KEYS[1], 0)
  if not item then
    state = 0
    break
  end
  local size = #item
  if size > maxItem then
    -- LTRIM, not LPOP: no second copy of the item as a reply.
    redis.call('LTRIM', KEYS[1], 1, -1)
    local cut = math.min(keep, size)
    -- Cut at a character boundary: never before a UTF-8 continuation byte (10xxxxxx).
    while cut > 0 do
      local b = string.byte(item, cut + 1)
      if b == nil or b < 128 or b >= 192 then break end
      cut = cut - 1
    end
    redis.call('RPUSH', KEYS[3], '{"reason":"oversized","detail":' ..
      cjson.encode(size .. ' bytes, the limit is ' .. maxItem) ..
      ',"node":' .. cjson.encode(ARGV[6]) .. ',"at":' .. cjson.encode(ARGV[7]) ..
      ',"payload":' .. cjson.encode(string.sub(item, 1, cut) .. '…') .. '}')
    oversized = oversized + 1
  elseif bytes + size > budget and not (firstAnyway and #items == 0) then
    state = 2
    break
  else
    redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
    items[#items + 1] = item
    bytes = bytes + size
  end
  read = read + size
  if read >= budget then break end
end

local dropped = 0
if oversized > 0 then
  local length = redis.call('LLEN', KEYS[3])
  if length > deadMax then
    redis.call('LTRIM', KEYS[3], -deadMax, -1)
    dropped = length - deadMax
  end
end
return {items, bytes, oversized, dropped, state}
