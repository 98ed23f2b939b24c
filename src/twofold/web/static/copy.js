// Progressive enhancement only: copy buttons stay hidden unless the clipboard API works.
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) return;
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.classList.add("copied");
        button.setAttribute("aria-live", "polite");
        button.textContent = "Copied";
      } catch (_err) {
        button.textContent = "Copy failed — select the text instead";
      }
    });
  }
});
