// gr.HTML(js_on_load=...) on #results, run with `element` (the cards' container) and `trigger`:
// a click on a picture or a time selects that moment (gr.SelectData: index in the flat result list).
element.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-index]');
  if (!b || !element.contains(b)) return;
  element.querySelectorAll('.selected').forEach((x) => x.classList.remove('selected'));
  b.classList.add('selected');
  b.closest('.card').classList.add('selected');
  trigger('select', {index: Number(b.dataset.index), value: Number(b.dataset.segment)});
});
