-- Neovim end-to-end test of the inbatch plugin against the real `inbatch server`.
-- Run by tests/editors/test_nvim.py as:
--   nvim --headless --clean -u tests/editors/nvim/init.lua
-- Environment:
--   INBATCH_BIN            the inbatch binary
--   INBATCH_NVIM_PLUGIN    editors/nvim (put on the runtimepath)
--   INBATCH_NVIM_FILE      a copy of examples/analytics/n_plus_one.py to open
--   INBATCH_NVIM_RESULT    where to write the JSON results
--   INBATCH_NVIM_MODE      "lsp_enable" (lsp/inbatch.lua + vim.lsp.enable) or "setup" (setup{} with vim.lsp.start)
--   INBATCH_NVIM_EXPECTED  optional: the CLI's `check --fix --unsafe-fixes` output for the same file
-- Everything runs inside xpcall: any error is written to the result file and Neovim exits with
-- :cquit (an uncaught error in a -u script would leave headless Neovim waiting forever).

local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local t = harness.new('nvim-e2e', 20000)
local result, TIMEOUT, step, wait_for = t.result, t.TIMEOUT, t.step, t.wait_for

local function read_file(path)
  local f = assert(io.open(path, 'r'))
  local s = f:read('*a')
  f:close()
  return s
end

local function inb001(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.code == 'INB001' or (d.user_data and d.user_data.lsp and d.user_data.lsp.code == 'INB001') then
      table.insert(out, d)
    end
  end
  table.sort(out, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return out
end

local function lines_of(diags)
  local l = {}
  for _, d in ipairs(diags) do
    table.insert(l, d.lnum)
  end
  return l
end

local function hover_text(contents)
  if type(contents) == 'string' then
    return contents
  end
  if contents.value then
    return contents.value
  end
  local parts = {}
  for _, c in ipairs(contents) do
    table.insert(parts, type(c) == 'string' and c or (c.value or ''))
  end
  return table.concat(parts, '\n')
end

local function request(client, buf, method, params)
  local resp, err = client:request_sync(method, params, TIMEOUT, buf)
  if not resp then
    error(method .. ' failed: ' .. tostring(err), 2)
  end
  if resp.err then
    error(method .. ' returned an error: ' .. vim.inspect(resp.err), 2)
  end
  return resp.result
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') .. '\n'
end

local function code_actions(client, buf, d)
  local lsp_diag = assert(d.user_data and d.user_data.lsp, 'diagnostic has no LSP payload')
  return request(client, buf, 'textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = lsp_diag.range,
    context = { diagnostics = { lsp_diag }, triggerKind = 1 },
  }) or {}
end

local function is_ignore(action)
  return action.title:lower():find('ignore', 1, true) ~= nil
end

local function is_rewrite(action)
  return action.kind ~= nil and vim.startswith(action.kind, 'quickfix') and not is_ignore(action)
end

-- Applies a code action the way vim.lsp.buf.code_action does: resolve, edit, then command.
local function apply_action(client, buf, action)
  if action.edit == nil and action.command == nil and action.data ~= nil then
    action = request(client, buf, 'codeAction/resolve', action)
  end
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
  end
  local command = type(action.command) == 'table' and action.command or nil
  if command then
    request(client, buf, 'workspace/executeCommand', command)
  end
  return action
end

local function main()
  local bin = assert(os.getenv('INBATCH_BIN'), 'INBATCH_BIN not set')
  local plugin = assert(os.getenv('INBATCH_NVIM_PLUGIN'), 'INBATCH_NVIM_PLUGIN not set')
  local file = assert(os.getenv('INBATCH_NVIM_FILE'), 'INBATCH_NVIM_FILE not set')
  local expected_path = os.getenv('INBATCH_NVIM_EXPECTED')

  vim.opt.runtimepath:prepend(plugin)
  vim.cmd('filetype on')
  vim.o.swapfile = false
  result.nvim_version = tostring(vim.version())

  if result.mode == 'lsp_enable' then
    -- lsp/inbatch.lua from the runtimepath, with the test binary.
    vim.lsp.config('inbatch', { cmd = { bin, 'server' }, init_options = { batchSize = 1000 } })
    vim.lsp.enable('inbatch')
  else
    require('inbatch').setup({ cmd = { bin, 'server' }, batch_size = 1000, use_lsp_enable = false })
  end
  step('configured')

  vim.cmd.edit(vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  assert(vim.bo[buf].filetype == 'python', 'filetype is ' .. vim.bo[buf].filetype)
  local client = wait_for('the inbatch client to attach', function()
    local c = vim.lsp.get_clients({ bufnr = buf, name = 'inbatch' })[1]
    return c and c.initialized and c or nil
  end)
  step('attached', { root_dir = client.root_dir, offset_encoding = client.offset_encoding })

  -- 1. Diagnostics for both filter_by lines.
  local diags = wait_for('two INB001 diagnostics', function()
    local d = inb001(buf)
    return #d >= 2 and d or nil
  end)
  local lines = {}
  for _, d in ipairs(diags) do
    local text = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1]
    table.insert(lines, { lnum = d.lnum, col = d.col, text = text, message = d.message, severity = d.severity })
  end
  step('diagnostics', lines)
  for _, l in ipairs(lines) do
    assert(l.text:find('filter_by', 1, true), 'INB001 on a line without filter_by: ' .. l.text)
  end

  -- 2. Hover on the first diagnostic returns the rule's documentation.
  local first = diags[1]
  local hover = request(client, buf, 'textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = first.user_data.lsp.range.start,
  })
  assert(hover and hover.contents, 'empty hover at the INB001 diagnostic')
  local htext = hover_text(hover.contents)
  step('hover', htext)

  -- 3. Code actions at the diagnostic.
  local actions = code_actions(client, buf, first)
  local titles = {}
  for _, a in ipairs(actions) do
    table.insert(titles, { title = a.title, kind = a.kind })
  end
  step('code_actions', titles)

  local rewrite
  for _, a in ipairs(actions) do
    if is_rewrite(a) then
      rewrite = a
      break
    end
  end

  if rewrite then
    -- The server offers the batched rewrite: apply it (and any further rewrites it leaves),
    -- then the buffer must equal the CLI's --fix --unsafe-fixes output.
    result.applied = 'fix'
    local applied = {}
    local guard = 0
    while rewrite and guard < 10 do
      guard = guard + 1
      local count_before = #inb001(buf)
      apply_action(client, buf, rewrite)
      table.insert(applied, rewrite.title)
      rewrite = nil
      -- Wait for the server to re-analyse the edited buffer, then look for another rewrite.
      wait_for('fewer INB001 after the fix', function()
        return #inb001(buf) < count_before
      end)
      vim.wait(300)
      local remaining = inb001(buf)
      for _, d in ipairs(remaining) do
        for _, a in ipairs(code_actions(client, buf, d)) do
          if is_rewrite(a) then
            rewrite = a
            break
          end
        end
        if rewrite then
          break
        end
      end
    end
    step('fix_applied', applied)
    local text = buffer_text(buf)
    result.fixed_text = text
    if expected_path and expected_path ~= '' then
      local expected = read_file(expected_path)
      result.fix_matches_cli = (text == expected)
      assert(text == expected, 'buffer after the quick fix differs from `inbatch check --fix --unsafe-fixes`')
    end
    -- After the fix no INB001 remains.
    wait_for('INB001 to disappear after the fix', function()
      return #inb001(buf) == 0
    end)
    step('diagnostic_gone')
  else
    -- No rewrite yet (issue 4): use "Ignore INB001 for this line".
    local ignore
    for _, a in ipairs(actions) do
      if is_ignore(a) and a.title:find('INB001', 1, true) then
        ignore = a
        break
      end
    end
    assert(ignore, 'no rewrite quick fix and no "Ignore INB001 for this line" action: ' .. vim.inspect(titles))
    result.applied = 'ignore'
    local target_line = first.lnum
    apply_action(client, buf, ignore)
    local line = vim.api.nvim_buf_get_lines(buf, target_line, target_line + 1, false)[1]
    step('ignore_applied', { title = ignore.title, line = line })
    assert(
      line:find('noqa', 1, true) or line:find('inbatch: ignore', 1, true),
      'ignore action did not add a suppression comment: ' .. line
    )
    -- The diagnostic on that line disappears; the other one stays.
    local after = wait_for('the INB001 on the ignored line to disappear', function()
      local d = inb001(buf)
      for _, x in ipairs(d) do
        if x.lnum == target_line then
          return nil
        end
      end
      return d
    end)
    step('diagnostic_gone', lines_of(after))
    assert(#after == #diags - 1, ('expected %d INB001 after ignoring one, got %d'):format(#diags - 1, #after))
  end

  -- 4. Typing a new N+1 loop brings a diagnostic back.
  local before = #inb001(buf)
  local n = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_buf_set_lines(buf, n, n, false, {
    '',
    '',
    'def count_sessions(user_ids):',
    '    counts = {}',
    '    for user_id in user_ids:',
    '        counts[user_id] = Session.query.filter_by(user_id=user_id).count()',
    '    return counts',
  })
  local new_line = n + 5
  local back = wait_for('an INB001 on the typed loop', function()
    for _, d in ipairs(inb001(buf)) do
      if d.lnum == new_line then
        return d
      end
    end
    return nil
  end)
  step('typed_loop_flagged', { lnum = back.lnum, message = back.message })
  assert(#inb001(buf) == before + 1, 'typing one loop should add exactly one INB001')

  -- 5. Clean shutdown.
  client:stop()
  wait_for('the client to stop', function()
    return client:is_stopped()
  end)
  step('stopped')
  result.ok = true
end

t.run(main)
