/**
 * A modal on the platform's <dialog>: showModal() gives the focus trap, Escape to close, the inert
 * background and the dialog role, which is what an accessible modal needs.
 */
import { useEffect, useRef, type ReactNode } from 'react';

interface Props {
  readonly open: boolean;
  readonly title: string;
  readonly onClose: () => void;
  readonly children: ReactNode;
  readonly labelledBy: string;
}

export function Dialog({ open, title, onClose, children, labelledBy }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current!;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby={labelledBy} onClose={onClose} onCancel={onClose}>
      {open && (
        <>
          <h2 id={labelledBy}>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}
