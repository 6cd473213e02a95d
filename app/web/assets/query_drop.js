() => {
  // An image dropped on, or pasted into, the query box (#query) becomes the image query: the file
  // goes into the file input of #query-image (a gr.Image), which uploads it; its upload event
  // searches, with the box's text (if any) refining the picture.
  if (window.tempmeQueryDrop) return;
  window.tempmeQueryDrop = true;
  const imageFile = (files) => [...(files || [])].find((f) => f.type && f.type.startsWith('image/'));
  const inQuery = (e) => e.target instanceof Element && e.target.closest('#query');
  const hand = (file) => {
    const input = document.querySelector('#query-image input[type=file]');
    if (!input || !file) return false;
    const dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    input.dispatchEvent(new Event('change', {bubbles: true}));
    return true;
  };
  document.addEventListener('paste', (e) => {
    if (inQuery(e) && hand(imageFile(e.clipboardData && e.clipboardData.files))) e.preventDefault();
  }, true);
  document.addEventListener('dragover', (e) => { if (inQuery(e)) e.preventDefault(); }, true);
  document.addEventListener('drop', (e) => {
    if (inQuery(e) && hand(imageFile(e.dataTransfer && e.dataTransfer.files))) e.preventDefault();
  }, true);
}
