// The demo shop's own script: a button that opens the widget through its
// small API (window.ContactdWidget), as a real site might.
document.getElementById('ask')?.addEventListener('click', () => {
  if (window.ContactdWidget) window.ContactdWidget.open();
});
