-- inbatch for Neovim: starts `inbatch server` (LSP over stdio) for Python buffers.
--
--   require('inbatch').setup {}                          -- defaults
--   require('inbatch').setup { cmd = { '/path/to/inbatch', 'server' }, batch_size = 500 }
--
-- On Neovim 0.11+ setup() registers the configuration with vim.lsp.config and calls
-- vim.lsp.enable('inbatch') (the same as lsp/inbatch.lua); on 0.9/0.10 it starts the client with
-- vim.lsp.start() on `FileType python`, rooted at the nearest pyproject.toml / inbatch.toml / .git.
local M = {}

M.name = 'inbatch'

M.defaults = {
  -- The server command. The binary comes from `pip install inbatch` or `cargo install --path server`.
  cmd = { 'inbatch', 'server' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'inbatch.toml', 'setup.cfg', 'setup.py', '.git' },
  -- Sent as initializationOptions.batchSize when set (chunk size of batched fixes).
  batch_size = nil,
  -- initializationOptions and settings (`select`, `ignore`, `inlayHints`, `diagnosticMode`, ...);
  -- none by default. Empty tables are never sent: Neovim would encode `{}` as a JSON array `[]`.
  init_options = nil,
  settings = nil,
  -- Passed through to the client configuration.
  on_attach = nil,
  capabilities = nil,
  -- Use vim.lsp.config/vim.lsp.enable when available (0.11+); false forces vim.lsp.start.
  use_lsp_enable = true,
}

--- The options given to the last setup() call, merged with the defaults.
M.options = nil

local function has_lsp_enable()
  return vim.lsp.config ~= nil and vim.lsp.enable ~= nil and vim.fn.has('nvim-0.11') == 1
end

--- Merged options: defaults < opts.
function M.resolve(opts)
  local o = vim.tbl_deep_extend('force', {}, M.defaults, opts or {})
  if opts and opts.cmd then
    o.cmd = opts.cmd -- lists are replaced, not merged
  end
  if opts and opts.root_markers then
    o.root_markers = opts.root_markers
  end
  if o.batch_size ~= nil then
    o.init_options = vim.tbl_extend('force', o.init_options or {}, { batchSize = o.batch_size })
  end
  -- `{}` would go out as `[]`: send nothing instead.
  if type(o.init_options) == 'table' and vim.tbl_isempty(o.init_options) then
    o.init_options = nil
  end
  if type(o.settings) == 'table' and vim.tbl_isempty(o.settings) then
    o.settings = nil
  end
  return o
end

--- The project root for a file: the folder of the nearest root marker above it, else its folder.
function M.find_root(fname, markers)
  markers = markers or M.defaults.root_markers
  local dir = vim.fs.dirname(fname)
  if dir == nil or dir == '' then
    return vim.fn.getcwd()
  end
  local found = vim.fs.find(markers, { path = dir, upward = true })[1]
  if found then
    return vim.fs.dirname(found)
  end
  return dir
end

--- Starts (or reuses) the inbatch client for `bufnr` with vim.lsp.start. Returns the client id.
function M.start(bufnr, opts)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local o = opts or M.options or M.resolve({})
  local fname = vim.api.nvim_buf_get_name(bufnr)
  if vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  if vim.fn.executable(o.cmd[1]) ~= 1 then
    vim.notify_once(
      ('inbatch: `%s` not found; install inbatch or set cmd in require("inbatch").setup{}'):format(o.cmd[1]),
      vim.log.levels.WARN
    )
    return nil
  end
  local root = fname ~= '' and M.find_root(fname, o.root_markers) or vim.fn.getcwd()
  return vim.lsp.start({
    name = M.name,
    cmd = o.cmd,
    root_dir = root,
    init_options = o.init_options,
    settings = o.settings,
    on_attach = o.on_attach,
    capabilities = o.capabilities,
  }, { bufnr = bufnr })
end

--- Configures and enables the inbatch language server.
function M.setup(opts)
  local o = M.resolve(opts)
  M.options = o
  if o.use_lsp_enable and has_lsp_enable() then
    vim.lsp.config(M.name, {
      cmd = o.cmd,
      filetypes = o.filetypes,
      root_markers = o.root_markers,
      init_options = o.init_options,
      settings = o.settings,
      on_attach = o.on_attach,
      capabilities = o.capabilities,
    })
    vim.lsp.enable(M.name)
    return
  end
  local group = vim.api.nvim_create_augroup('inbatch', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = o.filetypes,
    callback = function(args)
      M.start(args.buf, o)
    end,
    desc = 'Start the inbatch language server',
  })
  -- Buffers already open when setup() runs.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(o.filetypes, vim.bo[buf].filetype) then
      M.start(buf, o)
    end
  end
end

return M
