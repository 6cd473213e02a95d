() => {
  // The page's keyboard, address and connection watcher (window.tempmeKeys):
  // - "/" focuses the query box (unless one is typing in a field); arrow keys move between the
  //   results (pictures and moment times, in page order); Enter on one plays it (a button).
  // - the address carries the search: ?q=…&mode=… is written after each search (replaceState,
  //   so Back leaves the page as before) and read when the page opens (events.READ_ADDRESS), so
  //   a search can be bookmarked or shared and a reload shows the same results.
  // - when the server stops answering (a request to its /config fails), the results are
  //   cleared, not left under a new query, and a notice says so under the query box; it goes
  //   once the server answers again.
  if (window.tempmeKeys) return;
  const K = (window.tempmeKeys = {offline: false});
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const queryBox = () => document.querySelector('#query textarea, #query input');
  const results = () => Array.from(document.querySelectorAll('#results button[data-index]'));
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/' && !typing(document.activeElement)) {
      const q = queryBox();
      if (q) { e.preventDefault(); q.focus(); q.select(); }
      return;
    }
    const keys = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1};
    if (!(e.key in keys)) return;
    const all = results();
    const at = all.indexOf(document.activeElement);
    if (at < 0) {  // from the query box (arrow down) or nowhere: the first result
      if (typing(document.activeElement) && e.key !== 'ArrowDown') return;
      if (!all.length) return;
      e.preventDefault();
      all[0].focus();
      return;
    }
    e.preventDefault();
    all[Math.max(0, Math.min(all.length - 1, at + keys[e.key]))].focus();
  });
  K.read = () => {
    const p = new URLSearchParams(window.location.search);
    return [p.get('q') || '', p.get('mode') || 'all'];
  };
  // the longest query the server takes (app.validate.MAX_QUERY_CHARS, put in by page.page_script):
  // a longer one is refused, so it is not kept in the address. Gradio's client also sends the
  // address's parameters with every request: a 100,000-character ?q= made each later request
  // too long for the server, and the page waited on it forever.
  const MAX_QUERY = Number('__MAX_QUERY_CHARS__');
  K.address = (q, mode) => {
    const p = new URLSearchParams(window.location.search);
    const t = (q || '').trim().replace(/\s+/g, ' ');
    if (t && t.length <= MAX_QUERY) p.set('q', t); else p.delete('q');
    if (mode && mode !== 'all') p.set('mode', mode); else p.delete('mode');
    const s = p.toString();
    window.history.replaceState(null, '', window.location.pathname + (s ? '?' + s : '') + window.location.hash);
  };
  const notice = () => {
    let n = document.getElementById('offline');
    if (!n) {
      n = document.createElement('div');
      n.id = 'offline';
      n.setAttribute('role', 'alert');
      const row = document.getElementById('search-row');
      (row && row.parentElement ? row.parentElement : document.body).insertBefore(n, row ? row.nextSibling : null);
    }
    return n;
  };
  const gone = () => {
    if (K.offline) return;
    K.offline = true;
    // only what the page drew inside them: Gradio keeps its own wrappers for the next results
    document.querySelectorAll('#results .cards, #evidence ol').forEach((el) => el.remove());
    document.body.classList.add('tempme-offline');
    const more = document.getElementById('load-more');
    if (more) more.style.display = 'none';
    const n = notice();
    n.textContent = '⚠️ The server is not answering (stopped or unreachable): the results were cleared. '
      + 'Start it again (tempme serve), then search or reload.';
    n.hidden = false;
  };
  const back = () => {
    if (!K.offline) return;
    K.offline = false;
    document.body.classList.remove('tempme-offline');
    const more = document.getElementById('load-more');
    if (more) more.style.display = '';
    const n = notice();
    n.textContent = '';
    n.hidden = true;
  };
  K.check = async () => {
    try {
      const r = await fetch(window.location.pathname.replace(/\/?$/, '/') + 'config', {cache: 'no-store'});
      if (r.ok || r.status === 401 || r.status === 403) back(); else gone();
    } catch (err) {
      gone();
    }
  };
  K.every = 3000;  // ms between checks
  window.setInterval(K.check, K.every);
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter' && typing(e.target)) K.check(); }, true);
  document.addEventListener('click', (e) => { if (e.target.closest && e.target.closest('#search-btn')) K.check(); }, true);
}
