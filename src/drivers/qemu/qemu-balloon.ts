/**
 * Idle guests give their free memory back to the host: a virtio-balloon device (the
 * virtio-mmio variant `virtio-balloon-device`, as `-M microvm` has no PCI) with free-page
 * reporting. The guest's `virtio_balloon` driver (loaded by the dev image's initramfs) reports
 * blocks the guest's allocator holds free, and QEMU discards them (MADV_DONTNEED), so the
 * VMM's RSS follows the guest's working set instead of the most it ever touched.
 *
 * The balloon is never inflated: mvm does not take memory a guest is using, it only lets a
 * guest hand back what it does not. `deflate-on-oom` keeps an inflated balloon (an operator's
 * `balloon` QMP command) from OOM-killing the guest.
 *
 * Linux reports free blocks of `page_reporting_order` and larger; its default (pageblock
 * order, 2 MiB) leaves a fragmented idle guest's small free blocks resident, so the driver
 * lowers it to 0 (4 KiB) on the command line. Reporting runs about every 2 s while the guest
 * frees memory, and costs a guest nothing while it does not.
 */

/** The page-reporting kernel parameter (mm/page_reporting.c) a balloon guest boots with. */
export const PAGE_REPORTING_ORDER_PARAM = 'page_reporting.page_reporting_order';

/** The QEMU device: the virtio-mmio balloon with free-page reporting. */
export function balloonArgs(): string[] {
  return ['-device', 'virtio-balloon-device,id=balloon0,free-page-reporting=on,deflate-on-oom=on'];
}

/** The cmdline with `page_reporting_order=0`, unless the image chose its own order. */
export function withReportingOrder(cmdline: string): string {
  if (cmdline.includes(`${PAGE_REPORTING_ORDER_PARAM}=`)) return cmdline;
  return `${cmdline} ${PAGE_REPORTING_ORDER_PARAM}=0`.trim();
}
