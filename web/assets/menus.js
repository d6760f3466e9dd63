/*
 * menus.js — the drop-down menus of the top bar (Keyboard, Mouse, Video, Power, Virtual media).
 *
 * A menu is a button (aria-expanded, aria-controls) and a panel. One menu is open at a
 * time; a click outside, Escape, or choosing an action (a .menu-item) closes it. Panels
 * hold ordinary controls (buttons, selects, check boxes), so Tab works inside them.
 */

let openButton = null;

function panelOf(button) {
  return document.getElementById(button.getAttribute('aria-controls'));
}

export function closeMenus({ restoreFocus = false } = {}) {
  if (!openButton) return;
  const button = openButton;
  openButton = null;
  button.setAttribute('aria-expanded', 'false');
  panelOf(button).hidden = true;
  if (restoreFocus) button.focus();
}

function openMenu(button) {
  closeMenus();
  openButton = button;
  button.setAttribute('aria-expanded', 'true');
  const panel = panelOf(button);
  panel.hidden = false;
  // Keep the panel inside the window on narrow screens.
  panel.classList.remove('menu-panel-right');
  const r = panel.getBoundingClientRect();
  if (r.right > window.innerWidth - 8) panel.classList.add('menu-panel-right');
}

export function initMenus(root) {
  for (const button of root.querySelectorAll('.menu-button')) {
    button.addEventListener('click', (ev) => {
      ev.stopPropagation();
      if (openButton === button) closeMenus();
      else openMenu(button);
    });
    const panel = panelOf(button);
    panel.addEventListener('click', (ev) => {
      const item = ev.target.closest('.menu-item');
      if (item && !item.disabled) closeMenus();
    });
  }
  document.addEventListener('pointerdown', (ev) => {
    if (openButton && !ev.target.closest('.menu')) closeMenus();
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && openButton) {
      ev.preventDefault();
      closeMenus({ restoreFocus: true });
    }
  });
}
