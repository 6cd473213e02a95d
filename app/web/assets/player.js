() => {
  // The player (gr.Video #player) and the selected moment's span {start, end, duration}:
  // - the span is marked on the player's timeline (a bar over its <progress>);
  // - playback stops on the moment's LAST frame (the last one whose time is < end), never on a
  //   frame of the next shot, or with "loop" jumps back to its start just as exactly. Moments end
  //   at scene cuts, so stopping a frame late shows another scene. Where the browser reports
  //   each presented frame (requestVideoFrameCallback: its media time), the player stops while
  //   the last frame inside the span is on screen, before the next one would be: the next frame
  //   starts one frame interval later (the smallest seen), so it is due at or after `end` when
  //   mediaTime + interval >= end. Then it seeks to end - 1 ms, which shows the frame that
  //   covers that instant: the last one of the moment. Without the callback, `timeupdate` (4-66
  //   Hz) does the same, a little later, then seeks back the same way. A seek past the end is
  //   the person's choice and is left alone.
  // - on narrow screens (phones) a new video starts muted; on desktop the click that chose the
  //   moment starts it with sound.
  if (window.tempmePlayer) return;
  const EPS = 0.001;  // s before the end: the instant whose frame is the moment's last
  const P = (window.tempmePlayer = {span: null, loop: false, stops: 0});
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
  // at the end of the span: back to its start (loop), or pause on its last frame
  const atEnd = (v) => {
    const s = P.span;
    P.stops += 1;
    if (P.loop) { v.currentTime = s.start; v.tempmePrev = s.start; return; }
    v.pause();
    v.currentTime = Math.max(s.start, s.end - EPS);
    v.tempmePrev = v.currentTime;
  };
  // playing through the end now (not a seek past it: those jump more than a second)
  const crossing = (v, t) => {
    const s = P.span;
    return s && !v.paused && !v.seeking && t < s.end + 1.0 && (v.tempmePrev === undefined || v.tempmePrev < s.end);
  };
  const watchFrames = (v) => {
    if (v.tempmeFrames || !('requestVideoFrameCallback' in v)) return;
    v.tempmeFrames = {last: null, step: null};
    const onFrame = (now, md) => {
      const f = v.tempmeFrames, t = md.mediaTime, s = P.span;
      if (f.last !== null && t > f.last && t - f.last < 0.5) f.step = f.step === null ? t - f.last : Math.min(f.step, t - f.last);
      f.last = t;
      if (s && crossing(v, t) && t + (f.step || 1 / 60) >= s.end - EPS) atEnd(v);
      else v.tempmePrev = t;
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  };
  document.addEventListener('loadstart', (e) => {
    if (!ours(e.target)) return;
    if (narrow()) e.target.muted = true;
    e.target.tempmeFrames = null;
    watchFrames(e.target);
  }, true);
  document.addEventListener('loadedmetadata', (e) => { if (ours(e.target)) { mark(e.target); watchFrames(e.target); } }, true);
  document.addEventListener('timeupdate', (e) => {  // the fallback, and a safety net
    const v = e.target, s = P.span;
    if (!ours(v) || !s) return;
    const t = v.currentTime;
    if (crossing(v, t) && t >= s.end - EPS) atEnd(v);
    else if (!v.tempmeFrames) v.tempmePrev = t;
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
    if (v) { v.tempmePrev = undefined; mark(v); watchFrames(v); }
  };
}
