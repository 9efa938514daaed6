-- :checkhealth inbatch
local M = {}

local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local err = health.error or health.report_error
local info = health.info or health.report_info

local function server_cmd()
  if vim.lsp.config ~= nil and vim.fn.has('nvim-0.11') == 1 then
    local cfg = vim.lsp.config['inbatch']
    if cfg and type(cfg.cmd) == 'table' then
      return cfg.cmd
    end
  end
  local loaded, inbatch = pcall(require, 'inbatch')
  if loaded and inbatch.options then
    return inbatch.options.cmd
  end
  return { 'inbatch', 'server' }
end

function M.check()
  start('inbatch: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    ok('Neovim ' .. tostring(vim.version()) .. ': vim.lsp.config / vim.lsp.enable (lsp/inbatch.lua)')
  elseif vim.fn.has('nvim-0.9') == 1 then
    ok('Neovim ' .. tostring(vim.version()) .. ': require("inbatch").setup{} (vim.lsp.start)')
  else
    err('Neovim 0.9 or newer is required')
  end

  start('inbatch: server binary')
  local cmd = server_cmd()
  local bin = cmd[1]
  if vim.fn.executable(bin) ~= 1 then
    err(('`%s` is not executable or not on PATH'):format(bin), {
      'pip install inbatch',
      'or: cargo install --path server (from a checkout)',
      "or point the command at it: vim.lsp.config('inbatch', { cmd = { '/path/to/inbatch', 'server' } })",
    })
  else
    ok(('command: %s (%s)'):format(table.concat(cmd, ' '), vim.fn.exepath(bin)))
    local version = vim.fn.system({ bin, '--version' })
    if vim.v.shell_error == 0 then
      ok('version: ' .. vim.trim(version))
    else
      warn('`' .. bin .. ' --version` failed: ' .. vim.trim(version))
    end
    vim.fn.system({ bin, 'server', '--help' })
    if vim.v.shell_error == 0 then
      ok('`inbatch server` is available')
    else
      err('this inbatch binary has no `server` subcommand; upgrade it')
    end
  end

  start('inbatch: clients')
  local get_clients = vim.lsp.get_clients or vim.lsp.get_active_clients
  local clients = get_clients({ name = 'inbatch' })
  if #clients == 0 then
    info('no inbatch client is running (open a Python file)')
  end
  for _, client in ipairs(clients) do
    local bufs = vim.tbl_keys(client.attached_buffers or {})
    ok(('client %d, root %s, %d buffer(s)'):format(client.id, client.root_dir or '(none)', #bufs))
  end
end

return M
