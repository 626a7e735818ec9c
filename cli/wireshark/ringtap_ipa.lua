-- ringtap_ipa.lua: shows the decoded Qualcomm IPA status / DPL header that ringtap's IPAMonitor
-- stores with each packet of its pcapng files (agent/src/ipa/pcapng.ts), as filterable fields:
--   ringtap_ipa.opcode == 0x04, ringtap_ipa.exception_name == "CHECKSUM", ringtap_ipa.src == 3,
--   ringtap_ipa.truncated, ...
--
-- Load it:
--   tshark -X lua_script:cli/wireshark/ringtap_ipa.lua -r capture.pcapng -Y ringtap_ipa -V
--   or copy it to the personal Lua plugins folder (Wireshark: Help > About > Folders >
--   "Personal Lua Plugins", usually ~/.local/lib/wireshark/plugins/) and restart Wireshark.
--
-- Where the header comes from. ringtap writes it twice per packet: as text in the packet comment
-- (opt_comment) and verbatim in a custom binary option (code 2989, PEN 32473, then 4 bytes
-- [1, format 0=status 1=dplv2 2=dplv3, flags bit0 = IPA v5 layout, 0], then the 32 or 16 header
-- bytes). Wireshark 4.0 does not hand an Enhanced Packet Block's custom options to dissectors
-- (not in the frame tree, and the Lua API has no accessor for block options), so:
--   * normal reading: this postdissector parses frame.comment;
--   * reading the file as a file (tshark -X read_format:"MIME Files Format"): the pcapng file
--     dissector shows option 2989 as "Unknown"; this postdissector finds each such option and
--     decodes the header bytes themselves (ringtap_ipa.source == "option").
-- Tested with tshark 4.0 (test/unit/ipa/wireshark.test.ts).

local p = Proto("ringtap_ipa", "ringtap IPA monitor header")

local OPCODES = { [0x01] = "PACKET", [0x02] = "NEW_RULE_PACKET", [0x04] = "DROPPED_PACKET", [0x08] = "SUSPENDED_PACKET",
  [0x10] = "LOG", [0x20] = "DCMP", [0x40] = "PACKET_2ND_PASS" }
local EXCEPTIONS = { [0x00] = "NONE", [0x01] = "DEAGGR", [0x04] = "IPTYPE", [0x08] = "PACKET_LENGTH", [0x10] = "FRAG_RULE_MISS",
  [0x20] = "SW_FILTER", [0x40] = "NAT", [0x80] = "UC", [0x81] = "INVALID_ENDPOINT", [0x88] = "HEADER_INSERT", [0xe5] = "CHECKSUM" }
-- 0x40 is NAT for IPv4 and IPV6_CONN_TRACK for IPv6 (upstream enum ipa_status_exception): the
-- status mask's V4 bit (bit 7) tells them apart.
local function exception_name(v)
  if v.exception == 0x40 and v.mask and bit32.band(v.mask, 0x80) == 0 then return "IPV6_CONN_TRACK" end
  return EXCEPTIONS[v.exception] or string.format("UNKNOWN_0x%02x", v.exception)
end
local FORMATS = { [0] = "status", [1] = "dplv2", [2] = "dplv3" }

local f = {
  source = ProtoField.string("ringtap_ipa.source", "Decoded from"),
  format = ProtoField.string("ringtap_ipa.format", "Stream format"),
  v5 = ProtoField.bool("ringtap_ipa.v5", "IPA v5.0 layout"),
  opcode = ProtoField.uint8("ringtap_ipa.opcode", "Opcode", base.HEX, OPCODES),
  opcode_name = ProtoField.string("ringtap_ipa.opcode_name", "Opcode name"),
  exception = ProtoField.uint8("ringtap_ipa.exception", "Exception", base.HEX, EXCEPTIONS),
  exception_name = ProtoField.string("ringtap_ipa.exception_name", "Exception name"),
  src = ProtoField.uint8("ringtap_ipa.src", "Source endpoint"),
  dst = ProtoField.uint8("ringtap_ipa.dst", "Destination endpoint"),
  len = ProtoField.uint16("ringtap_ipa.len", "Packet length (pkt_len)"),
  mask = ProtoField.uint16("ringtap_ipa.mask", "Status mask", base.HEX),
  mask_names = ProtoField.string("ringtap_ipa.mask_names", "Status mask bits"),
  metadata = ProtoField.uint32("ringtap_ipa.metadata", "Metadata", base.HEX),
  router = ProtoField.string("ringtap_ipa.router", "Router table/rule"),
  tag = ProtoField.string("ringtap_ipa.tag", "Tag"),
  seq = ProtoField.uint8("ringtap_ipa.seq", "Sequence"),
  tod = ProtoField.uint64("ringtap_ipa.tod", "Time of day counter"),
  truncated = ProtoField.bool("ringtap_ipa.truncated", "Truncated replica"),
  captured = ProtoField.uint32("ringtap_ipa.captured", "Bytes present"),
  original = ProtoField.uint32("ringtap_ipa.original", "Original length"),
}
p.fields = f

local f_comment = Field.new("frame.comment")
local f_option = Field.new("pcapng.options.option")

local function add_common(t, v)
  t:add(f.format, v.format)
  if v.opcode then t:add(f.opcode, v.opcode); t:add(f.opcode_name, OPCODES[v.opcode] or string.format("UNKNOWN_0x%02x", v.opcode)) end
  if v.exception then t:add(f.exception, v.exception); t:add(f.exception_name, exception_name(v)) end
  if v.src then t:add(f.src, v.src) end
  if v.dst then t:add(f.dst, v.dst) end
  if v.len then t:add(f.len, v.len) end
  if v.mask then t:add(f.mask, v.mask) end
  if v.mask_names then t:add(f.mask_names, v.mask_names) end
  if v.metadata then t:add(f.metadata, v.metadata) end
  if v.router then t:add(f.router, v.router) end
  if v.tag then t:add(f.tag, v.tag) end
  if v.seq then t:add(f.seq, v.seq) end
  if v.tod then t:add(f.tod, UInt64(v.tod % 4294967296, math.floor(v.tod / 4294967296))) end
end

-- The comment: "ipa status[ v5] op=NAME(0xNN) exc=NAME(0xNN) src=N dst=N len=N mask=0xNNNN[..] meta=0x.. ..."
-- or "ipa dplv3 op=NAME(0xNN) src=N len=N meta=0x.. seq=N tod=N", optionally " truncated=C/O".
local function parse_comment(c)
  local format = c:match("^ipa (%w+)")
  if not format then return nil end
  local v = { format = format, kv = {} }
  v.v5 = c:match("^ipa status v5 ") ~= nil
  for k, val in c:gmatch("(%w+)=(%S+)") do v.kv[k] = val end
  local kv = v.kv
  v.opcode = kv.op and tonumber(kv.op:match("%(0x(%x+)%)"), 16)
  v.exception = kv.exc and tonumber(kv.exc:match("%(0x(%x+)%)"), 16)
  v.src = tonumber(kv.src)
  v.dst = tonumber(kv.dst)
  v.len = tonumber(kv.len)
  if kv.mask then
    v.mask = tonumber(kv.mask:match("^0x(%x+)"), 16)
    v.mask_names = kv.mask:match("%[(.*)%]")
  end
  v.metadata = kv.meta and tonumber(kv.meta:match("^0x(%x+)"), 16)
  v.router = kv.rt
  v.tag = kv.tag
  v.seq = tonumber(kv.seq)
  v.tod = tonumber(kv.tod)
  if kv.truncated then
    local cap, orig = kv.truncated:match("^(%d+)/(%d+)$")
    v.captured, v.original = tonumber(cap), tonumber(orig)
  end
  return v
end

local function u32(r, off) return r:range(off, 4):le_uint() end
local function bits(w, lo, width) return bit32.band(bit32.rshift(w, lo), bit32.lshift(1, width) - 1) end

-- The custom option's value (after code and length): PEN, ringtap prefix, header bytes.
local function decode_option(r, t)
  if r:len() < 8 or u32(r, 0) ~= 32473 or r:range(4, 1):uint() ~= 1 then return end
  local format = FORMATS[r:range(5, 1):uint()]
  local v5 = bit32.band(r:range(6, 1):uint(), 1) == 1
  local h = r:range(8)
  local st = t:add(p, r, "ringtap IPA header (custom option 2989)")
  st:add(f.source, "option")
  local v = { format = format }
  if format == "status" and h:len() >= 32 then
    local w0, w1, w3, w6, w7 = u32(h, 0), u32(h, 4), u32(h, 12), u32(h, 24), u32(h, 28)
    st:add(f.v5, v5)
    v.opcode, v.exception, v.mask, v.len = bits(w0, 0, 8), bits(w0, 8, 8), bits(w0, 16, 16), bits(w1, 0, 16)
    v.src = v5 and bits(w1, 16, 8) or bits(w1, 16, 5)
    v.dst = v5 and bits(w7, 16, 8) or bits(w1, 24, 5)
    v.metadata = u32(h, 8)
    local rule = bits(w3, 22, 10)
    v.router = string.format("%d/%s", v5 and bits(w3, 14, 8) or bits(w3, 17, 5), rule == 0x3ff and "miss" or tostring(rule))
    v.seq, v.tod = bits(w6, 0, 8), bits(w6, 8, 24)
  elseif format == "dplv2" and h:len() >= 32 then
    v.opcode, v.len, v.src, v.metadata, v.seq = h:range(0, 1):uint(), h:range(4, 2):le_uint(), bit32.band(h:range(6, 2):le_uint(), 0x1f), u32(h, 8), h:range(24, 1):uint()
  elseif format == "dplv3" and h:len() >= 16 then
    v.opcode, v.seq, v.src, v.metadata, v.len = h:range(0, 1):uint(), h:range(1, 1):uint(), bit32.band(h:range(2, 2):le_uint(), 0x1f), u32(h, 4), h:range(14, 2):le_uint()
  else
    return
  end
  add_common(st, v)
end

local function kv_or(x) return x and tostring(x) or "-" end

function p.dissector(tvb, pinfo, tree)
  local comments = { f_comment() }
  for _, c in ipairs(comments) do
    local v = parse_comment(tostring(c.value))
    if v then
      local t = tree:add(p, "ringtap IPA header (packet comment)")
      t:add(f.source, "comment")
      if v.format == "status" then t:add(f.v5, v.v5) end
      add_common(t, v)
      t:add(f.truncated, v.captured ~= nil)
      if v.captured then t:add(f.captured, v.captured); t:add(f.original, v.original) end
      local name = v.opcode and (OPCODES[v.opcode] or "?") or "?"
      pinfo.cols.info:prepend(string.format("[IPA %s %s>%s%s] ", name, kv_or(v.src), kv_or(v.dst), v.exception and v.exception ~= 0 and (" " .. exception_name(v)) or ""))
    end
  end
  -- File-format view: every option 2989 in the file.
  for _, o in ipairs({ f_option() }) do
    local r = o.range
    if r and r:len() >= 4 and r:range(0, 2):le_uint() == 2989 then
      local n = r:range(2, 2):le_uint()
      if r:len() >= 4 + n then decode_option(r:range(4, n), tree) end
    end
  end
end


register_postdissector(p, true)
