() => {
  // A file dropped on, or pasted into, the query box (#query) becomes the example query: a picture
  // goes into the file input of #query-image (a gr.Image), a video clip into that of #query-clip
  // (a gr.File); the component uploads it and its upload event searches, with the box's text (if
  // any) refining the example.
  if (window.tempmeQueryDrop) return;
  window.tempmeQueryDrop = true;
  const target = (file) => file.type.startsWith('image/') ? '#query-image' : file.type.startsWith('video/') ? '#query-clip' : null;
  const example = (files) => [...(files || [])].find((f) => f.type && target(f));
  const inQuery = (e) => e.target instanceof Element && e.target.closest('#query');
  const hand = (file) => {
    const input = file && document.querySelector(`${target(file)} input[type=file]`);
    if (!input) return false;
    const dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    input.dispatchEvent(new Event('change', {bubbles: true}));
    return true;
  };
  document.addEventListener('paste', (e) => {
    if (inQuery(e) && hand(example(e.clipboardData && e.clipboardData.files))) e.preventDefault();
  }, true);
  document.addEventListener('dragover', (e) => { if (inQuery(e)) e.preventDefault(); }, true);
  document.addEventListener('drop', (e) => {
    if (inQuery(e) && hand(example(e.dataTransfer && e.dataTransfer.files))) e.preventDefault();
  }, true);
}
