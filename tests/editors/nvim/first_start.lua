-- Neovim end-to-end test of a new user's first minute, each documented setup exactly as the
-- README writes it (no options): no error in :messages, every finding of a Django view on open
-- (before any edit), and a pyproject.toml change seen after :w.
-- Run by tests/editors/test_nvim_first_start.py as:
--   nvim --headless --clean -u tests/editors/nvim/first_start.lua
-- with `inbatch` on PATH. Environment:
--   INBATCH_NVIM_PLUGIN    editors/nvim (put on the runtimepath, as the README says)
--   INBATCH_NVIM_FILE      the Django view to open (shop/views.py of a copy of the project)
--   INBATCH_NVIM_RESULT    where to write the JSON results
--   INBATCH_NVIM_MODE      "lsp_enable" (vim.lsp.enable('inbatch')), "setup" (require('inbatch').setup {}),
--                          "start" (setup { use_lsp_enable = false }: the 0.9/0.10 path, vim.lsp.start)

local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local t = harness.new('nvim-first-start', 30000)
local result, TIMEOUT, step, wait_for = t.result, t.TIMEOUT, t.step, t.wait_for

local function findings(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == 'inbatch' then
      table.insert(out, { lnum = d.lnum, col = d.col, code = d.code, message = d.message })
    end
  end
  table.sort(out, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return out
end

local function codes(list)
  local out = {}
  for _, d in ipairs(list) do
    table.insert(out, d.code)
  end
  return table.concat(out, ',')
end

local function messages()
  return vim.api.nvim_exec2('messages', { output = true }).output
end

local function main()
  local plugin = assert(os.getenv('INBATCH_NVIM_PLUGIN'), 'INBATCH_NVIM_PLUGIN not set')
  local file = assert(os.getenv('INBATCH_NVIM_FILE'), 'INBATCH_NVIM_FILE not set')
  vim.o.swapfile = false
  vim.cmd('filetype on')

  -- The README's setups, word for word.
  vim.opt.runtimepath:append(plugin)
  if result.mode == 'lsp_enable' then
    vim.lsp.enable('inbatch')
  elseif result.mode == 'setup' then
    require('inbatch').setup {}
  else
    require('inbatch').setup { use_lsp_enable = false }
  end
  step('configured')

  vim.cmd.edit(vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local client = wait_for('the inbatch client to attach', function()
    local c = vim.lsp.get_clients({ bufnr = buf, name = 'inbatch' })[1]
    return c and c.initialized and c or nil
  end)
  step('attached', { init_options = vim.inspect(client.config.init_options) })

  -- Every finding, without an edit: those that need the workspace's models (lazy loads, the
  -- nullable sum) included.
  local ok_all = vim.wait(TIMEOUT, function()
    return #findings(buf) >= 5
  end, 50)
  result.on_open = findings(buf)
  if not ok_all then
    error('on open, without an edit: ' .. codes(result.on_open) .. ' instead of 5 findings')
  end
  vim.wait(1000, function()
    return false
  end)
  result.on_open = findings(buf)
  step('findings_on_open')
  result.messages_after_open = messages()

  -- The user edits pyproject.toml in Neovim and writes it.
  local pyproject = vim.fs.joinpath(vim.fs.dirname(vim.fs.dirname(file)), 'pyproject.toml')
  vim.cmd.split(vim.fn.fnameescape(pyproject))
  -- Its last table is [tool.inbatch]: the new key goes there.
  vim.api.nvim_buf_set_lines(0, -1, -1, false, { 'ignore = ["INB002"]' })
  vim.cmd.write()
  step('pyproject_written')
  local ok_cfg = vim.wait(TIMEOUT, function()
    return codes(findings(buf)) == 'INB001,INB201'
  end, 50)
  result.after_config = findings(buf)
  if not ok_cfg then
    error('after :w of pyproject.toml: ' .. codes(result.after_config) .. ' instead of INB001,INB201')
  end
  step('config_change_seen')

  result.messages = messages()
  client:stop()
  wait_for('the client to stop', function()
    return client:is_stopped()
  end)
  step('stopped')
  result.ok = true
end

t.run(main, function()
  result.messages = result.messages or messages()
end)
