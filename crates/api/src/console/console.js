// Keeps the pipeline view live: fetches the view's fragment every 700 ms and swaps it in,
// unless the person is typing in one of its forms.
(function () {
  const main = document.getElementById("pipeline");
  if (!main) return;
  let last = main.innerHTML;
  async function refresh() {
    const active = document.activeElement;
    const typing = active && main.contains(active) && active.closest("form") &&
      (active.tagName === "TEXTAREA" || active.tagName === "INPUT" || active.tagName === "SELECT");
    const drafted = Array.from(main.querySelectorAll("textarea, input[type=text]")).some((e) => e.value !== "");
    if (!typing && !drafted) {
      try {
        const response = await fetch(location.pathname + "?fragment=1", { headers: { "Accept": "text/html" }, cache: "no-store" });
        if (response.ok) {
          const html = await response.text();
          if (html !== last) {
            main.innerHTML = html;
            last = html;
          }
        }
      } catch (e) { /* offline for a moment: try again */ }
    }
    setTimeout(refresh, 700);
  }
  setTimeout(refresh, 700);
})();
