/**
 * A speaker's picture: the uploaded photo (two WebP widths) or, without one, an initials
 * avatar drawn by CSS, so the default page needs no image request at all.
 */
import { Show } from 'solid-js';
import type { Speaker } from '../lib/webinar-config';

/** "Prof. Dr. Werner Patzelt" → "WP"; titles are skipped. */
export function initialsOf(name: string): string {
  const words = name
    .split(/\s+/)
    .filter((w) => w && !/^(prof|dr|med|dipl|ing)\.?$/i.test(w) && !/\.$/.test(w));
  const first = words[0]?.[0] ?? '?';
  const last = words.length > 1 ? words[words.length - 1][0] : '';
  return (first + last).toUpperCase();
}

/** A stable colour slot (0–5) per name, so avatars differ but never change between renders. */
export function hueSlot(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return h % 6;
}

/** `small`: the 44 px faces beside the form, decorative (their names are in the text next to them). */
export function Avatar(props: { speaker: Speaker; small?: boolean }) {
  return (
    <Show
      when={props.speaker.photo}
      fallback={
        <span class={`avatar av${hueSlot(props.speaker.name)}`} aria-hidden="true">
          {initialsOf(props.speaker.name)}
        </span>
      }
    >
      {(photo) => (
        <img
          class="avatar"
          src={`/media/${photo().hash}`}
          srcset={`/media/${photo().smallHash} 160w, /media/${photo().hash} 480w`}
          sizes={props.small ? '44px' : '96px'}
          width={props.small ? 44 : 96}
          height={props.small ? 44 : 96}
          loading="lazy"
          decoding="async"
          alt={props.small ? '' : `Foto von ${props.speaker.name}`}
        />
      )}
    </Show>
  );
}
