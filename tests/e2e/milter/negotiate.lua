-- What relay-milter asks for in option negotiation when the MTA offers everything (as Sendmail 8.17
-- and Postfix 3.7 do). Prints one line for tests/e2e/test_miltertest.sh:
--   negotiated setsymlist=true quarantine=true nr_conn=true nr_helo=true nr_hdr=true nr_body=true nodata=true
local conn = mt.connect(sock, 40, 0.25)
if conn == nil then
  mt.echo("negotiated connect=failed")
  return
end
mt.echo("negotiated setsymlist=" .. tostring(mt.test_action(conn, SMFIF_SETSYMLIST)) ..
        " quarantine=" .. tostring(mt.test_action(conn, SMFIF_QUARANTINE)) ..
        " nr_conn=" .. tostring(mt.test_option(conn, SMFIP_NR_CONN)) ..
        " nr_helo=" .. tostring(mt.test_option(conn, SMFIP_NR_HELO)) ..
        " nr_hdr=" .. tostring(mt.test_option(conn, SMFIP_NR_HDR)) ..
        " nr_body=" .. tostring(mt.test_option(conn, SMFIP_NR_BODY)) ..
        " nodata=" .. tostring(mt.test_option(conn, SMFIP_NODATA)))
mt.disconnect(conn)
