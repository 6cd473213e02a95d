() => {
  // The player (gr.Video #player) and the selected moment's span {start, end, duration}:
  // - the span is marked on the player's timeline (a bar over its <progress>);
  // - at the span's end playback stops, or jumps back to its start when "loop" is on (only when
  //   playing across the end: a seek past it is the person's choice);
  // - on narrow screens (phones) a new video starts muted; on desktop the click that chose the
  //   moment starts it with sound.
  if (window.tempmePlayer) return;
  const P = (window.tempmePlayer = {span: null, loop: false});
  const narrow = () => window.matchMedia('(max-width: 600px)').matches;
  const ours = (v) => v instanceof HTMLVideoElement && v.closest('#player');
  const mark = (v) => {
    const bar = v.closest('#player').querySelector('progress');
    if (!bar) return;
    let m = bar.parentElement.querySelector('.tempme-span');
    const s = P.span;
    const d = isFinite(v.duration) && v.duration > 0 ? v.duration : s && s.duration;
    if (!s || !d) { if (m) m.remove(); return; }
    if (!m) {
      m = document.createElement('div');
      m.className = 'tempme-span';
      m.title = 'the matched moment';
      bar.parentElement.appendChild(m);
    }
    bar.parentElement.style.position = 'relative';
    m.style.left = bar.offsetLeft + (bar.offsetWidth * s.start) / d + 'px';
    m.style.width = Math.max(3, (bar.offsetWidth * (s.end - s.start)) / d) + 'px';
    m.style.top = bar.offsetTop + 'px';
    m.style.height = Math.max(4, bar.offsetHeight) + 'px';
  };
  document.addEventListener('loadstart', (e) => { if (ours(e.target) && narrow()) e.target.muted = true; }, true);
  document.addEventListener('loadedmetadata', (e) => { if (ours(e.target)) mark(e.target); }, true);
  document.addEventListener('timeupdate', (e) => {
    const v = e.target, s = P.span;
    if (!ours(v) || !s) return;
    const t = v.currentTime, prev = v.tempmePrev === undefined ? t : v.tempmePrev;
    v.tempmePrev = t;
    if (prev < s.end && t >= s.end && t - prev < 1.5) {
      if (P.loop) { v.currentTime = s.start; v.tempmePrev = s.start; } else v.pause();
    }
  }, true);
  document.addEventListener('ended', (e) => {
    const v = e.target;
    if (ours(v) && P.span && P.loop) { v.currentTime = P.span.start; v.play(); }
  }, true);
  window.addEventListener('resize', () => { const v = document.querySelector('#player video'); if (v) mark(v); });
  P.set = (span, loop) => {
    P.span = span || null;
    P.loop = !!loop;
    const v = document.querySelector('#player video');
    if (v) { v.tempmePrev = undefined; mark(v); }
  };
}
