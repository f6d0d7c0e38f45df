-- One SMTP transaction against relay-milter, as an MTA would drive it; parameters come from
-- miltertest -D name=value (all strings). Prints one line:
--     result mail=continue rcpt1=continue ... eoh=continue eom=continue
-- with, per step, the milter's answer (continue, accept, replycode, reject, tempfail). The step after
-- a refusal is not run. The calling shell script compares the line and checks the reply codes in
-- relay-milter's log (miltertest only shows the reply type before end of message).
--
--   sock       inet:PORT@127.0.0.1                          (required)
--   qid        queue id macro "i" for this transaction      (required: ties the log line to the case)
--   login      {auth_authen}; empty or unset: no SASL login
--   client     client address (default 127.0.0.1)
--   tls        "yes": {tls_version}/{cipher} set
--   sender     envelope sender (without <>; "" = null sender)
--   mailarg    one ESMTP MAIL parameter, e.g. SIZE=50000
--   rcpts      comma-separated recipients
--   from, from2, senderhdr   From:, a second From:, Sender: (unset or "(none)": header not sent)
--   body       body size in bytes (default 200)
--   messages   send the whole transaction this many times on one connection (default 1)

local function opt(name, default)
  local v = _G[name]
  if v == nil or v == "" then return default end
  return v
end

local names = {
  [SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept", [SMFIR_REPLYCODE] = "replycode",
  [SMFIR_REJECT] = "reject", [SMFIR_TEMPFAIL] = "tempfail", [SMFIR_DISCARD] = "discard",
}

local function reply_of(conn)
  local r = mt.getreply(conn)
  return names[r] or ("code" .. tostring(r))
end

local function split(list)
  local out = {}
  for item in string.gmatch(list or "", "[^,]+") do table.insert(out, item) end
  return out
end

local sock = opt("sock", nil)
local qid = opt("qid", "MT0000")
local login = opt("login", nil)
local client = opt("client", "127.0.0.1")
local tls = opt("tls", "no") == "yes"
local sender = _G["sender"] or ""
local steps = {}

local function record(step, value) table.insert(steps, step .. "=" .. value) end

local conn = mt.connect(sock, 40, 0.25)
if conn == nil then
  mt.echo("result connect=failed")
  return
end

local function transaction(n)
  local suffix = (n > 1) and ("." .. n) or ""
  local mailmacros = { "i", qid .. suffix }
  if login then
    table.insert(mailmacros, "{auth_authen}"); table.insert(mailmacros, login)
    table.insert(mailmacros, "{auth_type}"); table.insert(mailmacros, "PLAIN")
  end
  if tls then
    table.insert(mailmacros, "{tls_version}"); table.insert(mailmacros, "TLSv1.3")
    table.insert(mailmacros, "{cipher}"); table.insert(mailmacros, "TLS_AES_256_GCM_SHA384")
  end
  mt.macro(conn, SMFIC_MAIL, table.unpack(mailmacros))
  local mailarg = opt("mailarg", nil)
  if mailarg then mt.mailfrom(conn, "<" .. sender .. ">", mailarg) else mt.mailfrom(conn, "<" .. sender .. ">") end
  local r = reply_of(conn)
  record("mail" .. suffix, r)
  if r ~= "continue" then return end

  local accepted = 0
  for i, rcpt in ipairs(split(opt("rcpts", "rcpt@external.test"))) do
    mt.macro(conn, SMFIC_RCPT, "i", qid .. suffix, "{rcpt_addr}", rcpt)
    mt.rcptto(conn, "<" .. rcpt .. ">")
    r = reply_of(conn)
    record("rcpt" .. i .. suffix, r)
    if r == "continue" then accepted = accepted + 1 end
  end
  if accepted == 0 then return end

  if not mt.test_option(conn, SMFIP_NODATA) then mt.data(conn) end
  local headers = {
    { "Message-Id", "<" .. qid .. suffix .. "@client.example.test>" },
    { "Subject", "relay-milter miltertest " .. qid .. suffix },
  }
  local function wanted(v) return v ~= nil and v ~= "(none)" end
  if wanted(_G["from"]) then table.insert(headers, { "From", _G["from"] }) end
  if wanted(_G["from2"]) then table.insert(headers, { "From", _G["from2"] }) end
  if wanted(_G["senderhdr"]) then table.insert(headers, { "Sender", _G["senderhdr"] }) end
  if not mt.test_option(conn, SMFIP_NOHDRS) then
    for _, h in ipairs(headers) do mt.header(conn, h[1], h[2]) end
  end
  mt.eoh(conn)
  r = reply_of(conn)
  record("eoh" .. suffix, r)
  if r ~= "continue" then return end

  local size = tonumber(opt("body", "200"))
  local line = string.rep("x", 70) .. "\r\n"
  local body = string.rep(line, math.floor(size / #line)) .. string.rep("y", size % #line)
  if not mt.test_option(conn, SMFIP_NOBODY) then mt.bodystring(conn, body) end
  mt.eom(conn)
  r = reply_of(conn)
  record("eom" .. suffix, r)
  if mt.eom_check(conn, MT_QUARANTINE) then record("quarantine" .. suffix, "yes") end
end

if not mt.test_option(conn, SMFIP_NOCONNECT) then
  mt.macro(conn, SMFIC_CONNECT, "j", "mail.example.test", "{daemon_name}", "miltertest",
           "{client_addr}", client, "{client_name}", "client.example.test")
  mt.conninfo(conn, "client.example.test", client)
  local r = "continue"
  if not mt.test_option(conn, SMFIP_NR_CONN) then r = reply_of(conn) end
  if r ~= "continue" then
    mt.echo("result connect=" .. r)
    return
  end
end
if not mt.test_option(conn, SMFIP_NOHELO) then
  mt.helo(conn, "client.example.test")
end

for n = 1, tonumber(opt("messages", "1")) do
  transaction(n)
  -- the MTA resets the transaction (RSET / next MAIL) after a refusal or the end of a message
  if n < tonumber(opt("messages", "1")) then mt.abort(conn) end
end
mt.disconnect(conn)
mt.echo("result " .. table.concat(steps, " "))
