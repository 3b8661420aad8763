// The main layout once logged in: sidebar plus the main column (a room or the node page), the phone
// drawer, global shortcuts, and the dialogs opened from anywhere (switcher, help, person, menu, groups).

import { h, replaceChildren } from '../dom.js';
import { state, on, sortedRooms } from '../state.js';
import { renderSidebar } from './sidebar.js';
import { RoomView } from './roomview.js';
import { NodePage } from './nodepage.js';
import { installShortcuts } from '../keyboard.js';
import { openQuickSwitcher } from './quickswitcher.js';
import { openShortcutHelp } from './shortcuts.js';
import { openPersonCard } from './personcard.js';
import { openUserMenu } from './usermenu.js';
import { openCreateGroup, openRoomSettings } from './groups.js';
import { openSearch } from './search.js';
import { openRoom, go } from '../router.js';
import { toast } from '../toast.js';
import { closePicker } from './reactpicker.js';

export function renderShell(root) {
  let view = null;
  const phone = matchMedia('(max-width: 699px)');

  const closeDrawer = () => {
    if (!shell.classList.contains('drawer-open')) return false;
    shell.classList.remove('drawer-open');
    document.getElementById('menu-btn')?.focus();
    return true;
  };
  const openDrawer = () => {
    shell.classList.add('drawer-open');
    const cur = sidebar.el.querySelector('[aria-current="page"]') || sidebar.el.querySelector('button');
    cur?.focus();
  };
  const person = (id) => openPersonCard(id, { onOpenRoom: (rid) => { openRoom(rid); closeDrawer(); } });

  const sidebar = renderSidebar({
    onQuickSwitch: () => openQuickSwitcher({ onPerson: person }),
    onPerson: person,
    onUserMenu: () => openUserMenu({ onProfile: () => {}, onNode: () => { go({ view: 'node' }); closeDrawer(); } }),
    onNewGroup: () => openCreateGroup(),
    onNavigate: () => { if (phone.matches) closeDrawer(); },
  });
  // connection trouble is shown above every view, so it stays visible on a phone with the drawer closed
  const banner = h('div', { class: 'conn-banner', role: 'status', hidden: true });
  const viewHost = h('div', { class: 'view-host' });
  const mainSlot = h('div', { class: 'main-slot' }, banner, viewHost);
  const renderBanner = () => {
    banner.hidden = state.conn === 'open';
    banner.textContent = state.conn === 'reconnecting' ? 'Reconnecting… new messages appear as soon as the connection is back.'
      : 'Connecting to the node…';
  };
  on('conn', renderBanner);
  setTimeout(renderBanner, 1500); // a first connection usually takes a few ms: no flash of the banner
  const backdrop = h('button', { class: 'drawer-backdrop', type: 'button', tabindex: '-1', 'aria-label': 'Close the room list',
    onClick: closeDrawer });
  const shell = h('div', { class: 'shell' }, sidebar.el, backdrop, mainSlot);
  replaceChildren(root, shell);
  root.removeAttribute('aria-busy');

  // the sidebar is out of the tab order while it is a closed drawer
  const syncInert = () => {
    const open = shell.classList.contains('drawer-open');
    sidebar.el.inert = phone.matches && !open;
    mainSlot.inert = phone.matches && open; // the open drawer keeps focus to itself
  };
  new MutationObserver(syncInert).observe(shell, { attributes: true, attributeFilter: ['class'] });
  phone.addEventListener('change', () => { shell.classList.remove('drawer-open'); syncInert(); });
  syncInert();

  function show(route) {
    const key = route.view === 'node' ? 'node' : `room:${route.roomId}`;
    if (view && view.key === key) return;
    closePicker();
    if (view) view.destroy();
    if (route.view === 'node') {
      view = new NodePage({ onMenu: openDrawer });
    } else {
      view = new RoomView(route.roomId, {
        onMenu: openDrawer,
        onPerson: person,
        onSearch: (rid) => openSearch({ roomId: rid }),
        onRoomSettings: (rid) => openRoomSettings(rid, { onPerson: person }),
      });
    }
    view.key = key;
    replaceChildren(viewHost, view.el);
  }

  on('route', show);
  on('room.removed', (id) => {
    if (state.currentRoomId === id && state.view === 'room') {
      toast('You are no longer in that room');
      openRoom('public');
    }
  });

  installShortcuts({
    quickSwitch: () => openQuickSwitcher({ onPerson: person }),
    help: () => openShortcutHelp(),
    search: () => { if (state.features.search) openSearch({}); else openQuickSwitcher({ onPerson: person }); },
    moveRoom: (d) => {
      const rooms = sortedRooms();
      const i = rooms.findIndex((r) => r.id === state.currentRoomId);
      const next = rooms[(i + d + rooms.length) % rooms.length];
      if (next) openRoom(next.id);
    },
    escape: () => closeDrawer() || (view && view.cancelReply && view.cancelReply()),
    typeToComposer: () => { if (view && view.focusComposer) view.focusComposer(); },
  });

  return { show, get view() { return view; } };
}
