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

interface ConfirmProps {
  readonly open: boolean;
  readonly title: string;
  readonly labelledBy: string;
  /** What happens, and that it cannot be undone. */
  readonly children: ReactNode;
  /** The destructive button's label, e.g. "Delete". */
  readonly confirmLabel: string;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
}

/** A question before something that cannot be undone: Cancel has the focus, the other button is marked as dangerous. */
export function ConfirmDialog({ open, title, labelledBy, children, confirmLabel, onConfirm, onCancel }: ConfirmProps) {
  return (
    <Dialog open={open} title={title} onClose={onCancel} labelledBy={labelledBy}>
      <p>{children}</p>
      <div className="dialog-actions">
        <button type="button" className="button" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="button danger-solid" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}
