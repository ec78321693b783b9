// Live notifications: the server emits `notification_created` to the room `user:{id}`
// (ptap/accounts/notifications.py); this bumps the header badge and, on the notification
// centre, prepends the new item. Same origin, session cookie: no token in the page.
(function () {
  "use strict";

  if (typeof window.io !== "function") return;

  let live;

  function announce(text) {
    if (!live) return;
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function bumpBadge() {
    const badge = document.getElementById("unread-badge");
    const count = document.getElementById("unread-count");
    if (!badge || !count) return;
    count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
    badge.hidden = false;
    const menuBadge = document.getElementById("menu-unread-badge");
    const menuCount = document.getElementById("menu-unread-count");
    if (!menuBadge || !menuCount) return;
    menuCount.textContent = String((parseInt(menuCount.textContent, 10) || 0) + 1);
    menuBadge.hidden = false;
  }

  // Only local paths written by PTAP become links (as on the server-rendered page).
  function safeLink(link) {
    return typeof link === "string" && link.startsWith("/") && !link.startsWith("//") ? link : "";
  }

  // The same format as the server's (Europe/Paris), whatever the computer's time zone.
  const FORMAT = new Intl.DateTimeFormat("fr-FR", {
    timeZone: "Europe/Paris", day: "2-digit", month: "2-digit", year: "numeric",
    hour: "2-digit", minute: "2-digit",
  });

  function frenchNow() {
    const parts = {};
    FORMAT.formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    return parts.day + "/" + parts.month + "/" + parts.year + " à " + parts.hour + ":" + parts.minute;
  }

  function prepend(data) {
    const list = document.getElementById("notification-list");
    if (!list) return;
    const item = document.createElement("li");
    item.className = "notification notification-unread notification-arrived";
    const title = document.createElement("p");
    title.className = "notification-title";
    const tag = document.createElement("span");
    tag.className = "tag tag-new";
    tag.textContent = "Non lue";
    title.appendChild(tag);
    title.appendChild(document.createTextNode(" "));
    const link = safeLink(data.link);
    const text = link ? document.createElement("a") : document.createElement("span");
    if (link) text.href = link;
    text.textContent = String(data.title || "");
    title.appendChild(text);
    const when = document.createElement("p");
    when.className = "notification-when";
    const time = document.createElement("time");
    time.dateTime = new Date().toISOString();
    time.textContent = frenchNow();
    when.appendChild(time);
    item.appendChild(title);
    item.appendChild(when);
    list.prepend(item);
    list.hidden = false;
    const markRead = document.getElementById("mark-read");
    if (markRead) markRead.hidden = false;
    const summary = document.getElementById("notification-summary");
    if (summary) {
      const unread = (parseInt(summary.getAttribute("data-unread"), 10) || 0) + 1;
      summary.setAttribute("data-unread", String(unread));
      summary.textContent = unread + " non lue" + (unread > 1 ? "s" : "");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // A polite live region, present before anything arrives so that it is announced.
    live = document.createElement("div");
    live.className = "visually-hidden";
    live.setAttribute("role", "status");
    live.setAttribute("aria-live", "polite");
    document.body.appendChild(live);

    const socket = window.io({ withCredentials: true });
    socket.on("notification_created", function (data) {
      bumpBadge();
      prepend(data || {});
      announce("Nouvelle notification : " + String((data && data.title) || ""));
    });
  });
})();
